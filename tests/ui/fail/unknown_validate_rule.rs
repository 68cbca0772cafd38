use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    #[validate(length(min = 1), contains(pattern = "x"))]
    title: String,
    #[validate(range(minimum = 0))]
    priority: i32,
}

fn main() {}
