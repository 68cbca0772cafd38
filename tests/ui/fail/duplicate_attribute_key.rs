use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
#[safemodel(table = "todos")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    #[safemodel(rename = "uid", rename = "user")]
    owner: i64,
    user_id: i64,
}

fn main() {}
