use safemodel::SafeEnum;

#[derive(Clone, Copy, SafeEnum)]
enum Status {
    Open,
    Blocked(i32),
    Done { at: i64 },
}

fn main() {}
