use safemodel::SafeEnum;

#[derive(Clone, Copy, SafeEnum)]
struct Status {
    code: i32,
}

fn main() {}
