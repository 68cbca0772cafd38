use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task(i64, i64);

fn main() {}
