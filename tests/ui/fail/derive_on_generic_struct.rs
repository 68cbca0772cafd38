use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task<T> {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    payload: T,
}

fn main() {}
