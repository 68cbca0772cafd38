use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "owner_email")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    #[safemodel(pii)]
    owner_email: String,
}

fn main() {}
