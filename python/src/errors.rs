//! Quarry's errors as Python exceptions, and the guard every engine call runs in.
//!
//! The exception classes live in `quarry/_errors.py` (so `QuarryValueError` can
//! derive from both `QuarryError` and `ValueError`); they are looked up once.
//! Messages are the engine's own `Display` text, unchanged.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use quarry_engine::EngineError;
use quarry_formats::FormatError;
use quarry_learn::LearnError;
use quarry_routing::mlp::MlpError;
use quarry_routing::RoutingError;
use quarry_storage::StorageError;

/// Which Python exception an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `QuarryError`: the index, the files or the system (locked, missing, I/O).
    Quarry,
    /// `QuarryValueError` (a `ValueError` and a `QuarryError`): a bad argument.
    Value,
    /// `CorruptIndexError`: a checksum failed or a file is damaged.
    Corrupt,
}

/// An error on its way to Python: the exception kind and the message.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn value(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Value,
            msg: msg.into(),
        }
    }
    pub fn quarry(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Quarry,
            msg: msg.into(),
        }
    }
}

fn kind_of_storage(e: &StorageError) -> Kind {
    match e {
        StorageError::Corrupt { .. } => Kind::Corrupt,
        StorageError::OutOfRange { .. } => Kind::Value,
        _ => Kind::Quarry,
    }
}

fn kind_of_format(e: &FormatError) -> Kind {
    match e {
        // Vectors handed over in memory: the caller's argument.
        FormatError::BadShape { .. } => Kind::Value,
        FormatError::NonFinite { path, .. } if path.as_os_str() == "<memory>" => Kind::Value,
        FormatError::UnsupportedExtension { .. } => Kind::Value,
        // A file that is not what its name says, truncated, ...: the file's problem.
        _ => Kind::Quarry,
    }
}

fn kind_of_routing(e: &RoutingError) -> Kind {
    match e {
        RoutingError::ModelFile(_) => Kind::Corrupt,
        RoutingError::Mlp(m) => kind_of_mlp(m),
        RoutingError::Training(_) | RoutingError::Graph(_) => Kind::Quarry,
        RoutingError::ZeroProbe
        | RoutingError::Shape { .. }
        | RoutingError::BadEps(_)
        | RoutingError::BadTarget(_)
        | RoutingError::BadMargin(_)
        | RoutingError::NotCalibrated { .. }
        | RoutingError::TargetUnreachable { .. }
        | RoutingError::Input(_) => Kind::Value,
    }
}

fn kind_of_mlp(e: &MlpError) -> Kind {
    match e {
        MlpError::BadModel(_) => Kind::Corrupt,
        MlpError::BadConfig(_) => Kind::Value,
        MlpError::Candle(_) => Kind::Quarry,
    }
}

fn kind_of_filter(e: &quarry_filter::FilterError) -> Kind {
    use quarry_filter::FilterError as F;
    match e {
        F::Corrupt(_) => Kind::Corrupt,
        F::Syntax { .. } | F::UnknownAttribute { .. } | F::Invalid(_) | F::IdOutOfRange { .. } => {
            Kind::Value
        }
        // A metadata file given as an argument that is malformed.
        F::Input { .. } => Kind::Value,
        F::UnsupportedVersion { .. } | F::Io { .. } => Kind::Quarry,
    }
}

pub fn kind_of_engine(e: &EngineError) -> Kind {
    use EngineError as E;
    match e {
        E::Format(f) => kind_of_format(f),
        E::Storage(s) => kind_of_storage(s),
        E::Partition(p) => match p {
            quarry_partition::PartitionError::Format(f) => kind_of_format(f),
            _ => Kind::Value,
        },
        E::Routing(r) => kind_of_routing(r),
        E::Filter(f) => kind_of_filter(f),
        E::Graph(g) => match g {
            quarry_graph::GraphError::Corrupt(_) => Kind::Corrupt,
            quarry_graph::GraphError::BadParam(_) => Kind::Value,
            quarry_graph::GraphError::Access(_) => Kind::Quarry,
        },
        E::BadWrite(_)
        | E::QueryDim { .. }
        | E::BatchShape { .. }
        | E::NonFinite { .. }
        | E::EmptyBatch
        | E::ZeroK
        | E::KTooLarge { .. }
        | E::KTooLargeForBase { .. }
        | E::BadBuild(_)
        | E::WrongBase { .. }
        | E::BadSearch(_)
        | E::OutOfRange { .. } => Kind::Value,
        E::DeltaFull { .. }
        | E::NotWriter { .. }
        | E::NotWritable { .. }
        | E::NoMetadata { .. }
        | E::NoModel { .. }
        | E::NoGraphs { .. }
        | E::Threads { .. } => Kind::Quarry,
        // `EngineError` is not exhaustive over time: anything new is a QuarryError.
        #[allow(unreachable_patterns)]
        _ => Kind::Quarry,
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error {
            kind: kind_of_engine(&e),
            msg: e.to_string(),
        }
    }
}

impl From<LearnError> for Error {
    fn from(e: LearnError) -> Self {
        let kind = match &e {
            LearnError::Engine(x) => kind_of_engine(x),
            LearnError::Format(x) => kind_of_format(x),
            LearnError::Routing(x) => kind_of_routing(x),
            LearnError::Mlp(x) => kind_of_mlp(x),
            LearnError::Candle(_) => Kind::Quarry,
            LearnError::BadConfig(_) => Kind::Value,
        };
        Error {
            kind,
            msg: e.to_string(),
        }
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error {
            kind: kind_of_format(&e),
            msg: e.to_string(),
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error {
            kind: kind_of_storage(&e),
            msg: e.to_string(),
        }
    }
}

impl From<quarry_filter::FilterError> for Error {
    fn from(e: quarry_filter::FilterError) -> Self {
        Error {
            kind: kind_of_filter(&e),
            msg: e.to_string(),
        }
    }
}

static CLASSES: PyOnceLock<[Py<PyType>; 3]> = PyOnceLock::new();

/// The three exception classes of `quarry._errors`.
fn classes(py: Python<'_>) -> PyResult<&[Py<PyType>; 3]> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("quarry._errors")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok([
            get("QuarryError")?,
            get("QuarryValueError")?,
            get("CorruptIndexError")?,
        ])
    })
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match classes(py) {
            Ok(c) => {
                let cls = match e.kind {
                    Kind::Quarry => &c[0],
                    Kind::Value => &c[1],
                    Kind::Corrupt => &c[2],
                };
                PyErr::from_type(cls.bind(py).clone(), e.msg)
            }
            // The package is broken; still say what went wrong.
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(e.msg),
        })
    }
}

/// What a caught panic says.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs `f` with the GIL released, turning a panic into a `QuarryError` (the
/// interpreter never sees an unwind, and other Python threads run meanwhile).
pub fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    let r = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into()),
        Err(p) => Err(Error::quarry(format!(
            "internal error (a bug in Quarry; please report it): {}",
            panic_message(p.as_ref())
        ))
        .into()),
    }
}
