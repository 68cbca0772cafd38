use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "people", tenant = "org_id")]
struct Person {
    #[safemodel(primary_key, pii)]
    national_id: String,
    org_id: i64,
}

fn main() {}
