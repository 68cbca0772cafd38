use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
}

fn main() {}
