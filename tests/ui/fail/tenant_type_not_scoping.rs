use safemodel::{SafeEnum, SafeModel};

#[derive(Clone, Copy, SafeEnum)]
enum Region {
    Eu,
    Us,
}

#[derive(SafeModel)]
#[safemodel(table = "tasks", tenant = "region")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    region: Region,
}

#[derive(SafeModel)]
#[safemodel(table = "events", tenant = "day")]
struct Event {
    #[safemodel(primary_key)]
    id: i64,
    day: chrono::NaiveDate,
}

fn main() {}
