use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    id: i64,
    user_id: i64,
}

fn main() {}
