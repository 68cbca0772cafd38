use safemodel::SafeModel;

struct Money {
    cents: i64,
}

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    budget: Money,
    spent: Option<std::time::Duration>,
}

fn main() {}
