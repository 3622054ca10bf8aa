//! SIGTERM and SIGINT, caught natively: a self-pipe and a watcher thread.
//!
//! The handler does the only async-signal-safe thing it needs: it writes the
//! signal number, one byte, to a non-blocking pipe. A plain thread blocks on
//! the pipe's other end and acts on each byte. So a signal is acted on at
//! once even while the Python thread is busy in a long handler (Python's own
//! signal handlers only run between bytecodes of the main thread).
//!
//! Written by hand rather than with `signal-hook`: that crate chains to the
//! previous handler, which for SIGINT is Python's (it would raise
//! `KeyboardInterrupt` in the middle of a request). Here the previous handlers
//! are replaced while the server runs and restored exactly when it stops, so
//! `app.run()` returning gives Ctrl+C back to Python.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// The signals the server handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Interrupt,
}

impl Signal {
    const ALL: [Signal; 2] = [Signal::Terminate, Signal::Interrupt];

    fn number(self) -> libc::c_int {
        match self {
            Signal::Terminate => libc::SIGTERM,
            Signal::Interrupt => libc::SIGINT,
        }
    }

    fn from_number(number: u8) -> Option<Signal> {
        Signal::ALL
            .into_iter()
            .find(|signal| signal.number() == libc::c_int::from(number))
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        }
    }
}

/// Write end of the self-pipe, or -1 when no handler is installed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Only one `SignalWatch` at a time: the handlers are process-wide.
static INSTALLED: Mutex<bool> = Mutex::new(false);
/// The byte that tells the watcher thread to end (no signal has number 0).
const QUIT: u8 = 0;

extern "C" fn on_signal(number: libc::c_int) {
    // SAFETY: only async-signal-safe calls: reading and restoring errno, and
    // write(2) of one byte from the stack to a non-blocking pipe.
    unsafe {
        let errno = *libc::__errno_location();
        let fd = WAKE_FD.load(Ordering::SeqCst);
        if fd >= 0 {
            let byte = number as u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
        *libc::__errno_location() = errno;
    }
}

/// The installed handlers; dropping it restores the previous ones.
pub struct SignalWatch {
    previous: Vec<(libc::c_int, libc::sigaction)>,
    /// False only while `install` fails half-way (it still holds the lock).
    owns_installation: bool,
    wake: OwnedFd,
    watcher: Option<JoinHandle<()>>,
}

impl SignalWatch {
    /// Catches SIGTERM and SIGINT, calling `action` on a dedicated thread for
    /// each one received, until the returned watch is dropped.
    pub fn install(action: impl Fn(Signal) + Send + 'static) -> io::Result<SignalWatch> {
        let mut installed = INSTALLED.lock();
        if *installed {
            return Err(io::Error::other(
                "another hyperdjango server in this process already handles signals",
            ));
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nothing else.
        let (read_end, wake) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETFL on a descriptor we own. Non-blocking: the handler must never block.
        unsafe {
            let flags = libc::fcntl(wake.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(wake.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let watcher = std::thread::Builder::new()
            .name("hyperdjango-signals".into())
            .spawn(move || watch(read_end, action))?;
        WAKE_FD.store(wake.as_raw_fd(), Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in Signal::ALL {
            // SAFETY: sigaction with a zeroed struct filled with a valid
            // handler (an extern "C" fn(c_int)) and an empty mask; the old
            // action is stored so Drop can restore it.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal.number(), &action, &mut old) != 0 {
                    let error = io::Error::last_os_error();
                    let watch = SignalWatch {
                        previous,
                        owns_installation: false,
                        wake,
                        watcher: Some(watcher),
                    };
                    drop(watch);
                    return Err(error);
                }
                previous.push((signal.number(), old));
            }
        }
        *installed = true;
        Ok(SignalWatch {
            previous,
            owns_installation: true,
            wake,
            watcher: Some(watcher),
        })
    }
}

/// The watcher thread: one pipe byte per signal, until `QUIT` or the pipe closes.
fn watch(read_end: OwnedFd, action: impl Fn(Signal)) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a live u8 from a descriptor we own.
        let read = unsafe { libc::read(read_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        if read < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if read != 1 || byte == QUIT {
            return;
        }
        if let Some(signal) = Signal::from_number(byte) {
            action(signal);
        }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for (number, old) in &self.previous {
            // SAFETY: restores the action saved by install for this signal.
            unsafe {
                libc::sigaction(*number, old, std::ptr::null_mut());
            }
        }
        WAKE_FD.store(-1, Ordering::SeqCst);
        let quit = QUIT;
        // SAFETY: one byte from the stack to our own pipe.
        unsafe {
            libc::write(self.wake.as_raw_fd(), (&quit as *const u8).cast(), 1);
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        if self.owns_installation {
            *INSTALLED.lock() = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn signals_reach_the_action_and_handlers_are_restored() {
        let (sender, received) = mpsc::channel();
        let watch = SignalWatch::install(move |signal| {
            let _ = sender.send(signal);
        })
        .expect("install");
        assert!(SignalWatch::install(|_| {}).is_err(), "one watch at a time");
        for signal in [Signal::Terminate, Signal::Interrupt, Signal::Terminate] {
            // SAFETY: raise on our own process; the handler only writes to the pipe.
            unsafe { libc::raise(signal.number()) };
            assert_eq!(received.recv_timeout(Duration::from_secs(5)), Ok(signal));
        }
        drop(watch);
        // SAFETY: reads the current SIGTERM action into a zeroed struct.
        let current = unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut current);
            current
        };
        assert_ne!(
            current.sa_sigaction,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t
        );
        // Installable again once the first is gone.
        drop(SignalWatch::install(|_| {}).expect("reinstall"));
    }
}
