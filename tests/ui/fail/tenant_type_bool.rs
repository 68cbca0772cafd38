use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "tenant")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    tenant: bool,
}

fn main() {}
