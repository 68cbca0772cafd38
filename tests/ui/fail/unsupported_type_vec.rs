use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    tags: Vec<String>,
    scores: Option<Vec<i64>>,
}

fn main() {}
