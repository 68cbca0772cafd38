use safemodel::SafeEnum;

#[derive(Clone, Copy, SafeEnum)]
#[safemodel(rename_all = "snake-case")]
enum Status {
    Todo,
    Done,
}

fn main() {}
