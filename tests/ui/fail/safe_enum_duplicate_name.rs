use safemodel::SafeEnum;

#[derive(Clone, Copy, SafeEnum)]
#[safemodel(rename_all = "lowercase")]
enum Status {
    InProgress,
    #[safemodel(rename = "inprogress")]
    Working,
    Done,
}

fn main() {}
