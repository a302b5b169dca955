//! Runs independent jobs on the machine's cores. Formatting a large API is seconds of parsing
//! and printing, which splits into independent pieces, so the pieces are formatted side by side.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// One unit of work. A job owns everything it builds: syn's trees are not `Send`, so each is
/// parsed, printed and dropped on one thread and only its text crosses.
pub(crate) type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// The stack of each helper thread. The jobs used to run on the main thread, whose stack is
/// usually 8 MiB, and syn and prettyplease recurse once per nesting level of the code: the same
/// size keeps deeply nested generated code from overflowing where it did not before.
const STACK_SIZE: usize = 8 << 20;

/// Jobs waiting for a thread, in the order they were pushed.
pub(crate) struct Queue<'a, T> {
    state: Mutex<State<'a, T>>,
    ready: Condvar,
}

struct State<'a, T> {
    jobs: VecDeque<(usize, Job<'a, T>)>,
    pushed: usize,
    /// Set once no more jobs will come: idle threads then stop.
    closed: bool,
}

impl<'a, T> Queue<'a, T> {
    /// Queues `job` and returns the index of its result.
    pub(crate) fn push(&self, job: impl FnOnce() -> T + Send + 'a) -> usize {
        let mut state = self.lock();
        let index = state.pushed;
        state.pushed += 1;
        state.jobs.push_back((index, Box::new(job)));
        drop(state);
        self.ready.notify_one();
        index
    }

    /// A panicking job never holds the lock, so a poisoned lock still guards consistent state.
    fn lock(&self) -> MutexGuard<'_, State<'a, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next job, waiting for one while the queue is open.
    fn next(&self) -> Option<(usize, Job<'a, T>)> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Runs jobs until the queue is closed and empty.
    fn work(&self) -> Vec<(usize, T)> {
        let mut done = Vec::new();
        while let Some((index, job)) = self.next() {
            done.push((index, job()));
        }
        done
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Closes the queue when planning ends, also by a panic, so that no helper waits forever.
struct CloseOnDrop<'q, 'a, T>(&'q Queue<'a, T>);

impl<T> Drop for CloseOnDrop<'_, '_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Calls `plan` with a queue, and runs the jobs it pushes on as many threads as there are cores
/// (the caller's joins in once `plan` returns; the others start on the first job at once).
/// Returns what `plan` returned and every job's result, by the index `push` gave; a job's panic
/// is resumed on the caller's thread once the other threads have finished.
pub(crate) fn run<'a, T: Send, R>(plan: impl FnOnce(&Queue<'a, T>) -> R) -> (R, Vec<Option<T>>) {
    let queue = Queue {
        state: Mutex::new(State {
            jobs: VecDeque::new(),
            pushed: 0,
            closed: false,
        }),
        ready: Condvar::new(),
    };
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    std::thread::scope(|scope| {
        let queue = &queue;
        // A helper that cannot be started leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("protogate-emit".into())
                    .stack_size(STACK_SIZE)
                    .spawn_scoped(scope, move || queue.work())
                    .ok()
            })
            .collect();
        let planned = {
            let _close = CloseOnDrop(queue);
            plan(queue)
        };
        let mut finished = vec![queue.work()];
        for helper in helpers {
            match helper.join() {
                Ok(done) => finished.push(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        let mut results: Vec<Option<T>> = (0..queue.lock().pushed).map(|_| None).collect();
        for (index, result) in finished.into_iter().flatten() {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
        (planned, results)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_push_order() {
        let (planned, results) = run(|queue| {
            (0..50usize)
                .map(|i| {
                    // Uneven work, so that jobs finish out of order.
                    queue.push(move || (0..(50 - i) * 1000).fold(i, |a, _| std::hint::black_box(a)))
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(planned, (0..50).collect::<Vec<_>>());
        assert_eq!(results, (0..50).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_job_panics_the_caller() {
        let outcome = std::panic::catch_unwind(|| {
            run(|queue| {
                queue.push(|| panic!("job failed"));
                queue.push(|| 1);
            })
        });
        assert!(outcome.is_err());
    }
}
