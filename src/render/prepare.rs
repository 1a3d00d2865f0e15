//! Preparing policies for their files while synthesis is still making the
//! next ones: a worker on another core stamps, checks and renders each
//! policy handed to it ([`OutPolicy::prepared`]); when synthesis is done the caller takes its
//! share of what is left. Synthesis is one core's work, so without this the
//! second core would idle through it and the documents would all wait for
//! its end.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::output::OutPolicy;

/// Policies handed over, prepared by a worker and the caller.
pub struct Preparer {
    queue: Sender<OutPolicy>,
    waiting: Arc<Mutex<Receiver<OutPolicy>>>,
    /// `None` if no thread could be started: the caller does it all.
    worker: Option<JoinHandle<Vec<OutPolicy>>>,
}

impl Preparer {
    /// Starts the worker, which prepares what it is given.
    pub fn start() -> Preparer {
        let (queue, waiting) = mpsc::channel();
        let waiting = Arc::new(Mutex::new(waiting));
        let shared = Arc::clone(&waiting);
        let worker = std::thread::Builder::new()
            .name("prepare".into())
            .spawn(move || drain(&shared))
            .ok();
        Preparer {
            queue,
            waiting,
            worker,
        }
    }

    /// Hands over a policy to prepare.
    pub fn send(&self, policy: OutPolicy) {
        // The receiver lives as long as `self`: sending cannot fail.
        let _ = self.queue.send(policy);
    }

    /// Every policy handed over, prepared, in no particular order: the
    /// caller prepares what the worker has not taken yet, alongside it.
    pub fn finish(self) -> Vec<OutPolicy> {
        let Preparer {
            queue,
            waiting,
            worker,
        } = self;
        drop(queue);
        let mut done = drain(&waiting);
        if let Some(worker) = worker {
            match worker.join() {
                Ok(theirs) => done.extend(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    }
}

/// Prepares policies from the queue until it is closed and empty. The lock
/// is held only while waiting for the next one.
fn drain(waiting: &Mutex<Receiver<OutPolicy>>) -> Vec<OutPolicy> {
    let mut done = Vec::new();
    loop {
        let next = waiting.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(p) = next else {
            return done;
        };
        done.push(OutPolicy::prepared(p.policy, p.workload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::CiliumNetworkPolicy;
    use crate::render::output::{self, GenPolicy, Layout};

    /// Prepared ahead or not, the files are the same, and a policy the
    /// check refuses is still refused, naming its file.
    #[test]
    fn prepared_policies_give_the_same_files() {
        let policies = |names: &[&str]| -> Vec<OutPolicy> {
            names
                .iter()
                .map(|n| OutPolicy::new(GenPolicy::Cnp(CiliumNetworkPolicy::new(*n, "shop")), None))
                .collect()
        };
        let names = ["web", "db", "cache", "Bad_Name"];
        let preparer = Preparer::start();
        for p in policies(&names) {
            preparer.send(p);
        }
        let prepared = preparer.finish();
        assert_eq!(prepared.len(), names.len());
        assert!(prepared.iter().all(|p| p.ready.is_some()));
        let ahead = output::files(prepared, &Layout::Namespace);
        let later = output::files(policies(&names), &Layout::Namespace);
        let texts = |fs: &[output::OutFile]| -> Vec<(std::path::PathBuf, String)> {
            fs.iter()
                .map(|f| (f.path.clone(), f.text().to_string()))
                .collect()
        };
        assert_eq!(texts(&ahead), texts(&later));
        let err = output::check_files(&ahead).unwrap_err();
        assert_eq!(err, output::check_files(&later).unwrap_err());
        assert_eq!(err.path, "shop/Bad_Name.yaml");
    }
}
