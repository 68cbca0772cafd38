use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
enum Task {
    Open { id: i64, user_id: i64 },
    Closed { id: i64, user_id: i64 },
}

fn main() {}
