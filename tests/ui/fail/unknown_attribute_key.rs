use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id", schema = "app")]
struct Task {
    #[safemodel(primary_key, index)]
    id: i64,
    #[safemodel(pk)]
    user_id: i64,
}

fn main() {}
