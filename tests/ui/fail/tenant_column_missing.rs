use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    owner_id: i64,
}

fn main() {}
