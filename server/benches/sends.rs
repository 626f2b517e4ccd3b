//! One kernel send per delivery, by `writev` per socket (what the server does) or by io_uring's
//! batched submission (one `io_uring_enter` for a whole fan-out): N loopback TCP connections each get
//! a 219-byte frame (a status delta) per round. Prints CPU (user + system) and wall time per send.
//! The receivers are drained between rounds, outside the timing.
//! Run: `cargo bench -p frontdesk-server --bench sends -- 8000 40`.

#[cfg(target_os = "linux")]
fn main() {
    use std::io::{IoSlice, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(8000);
    let rounds = args.get(1).copied().unwrap_or(40);
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let addr = listener.local_addr().expect("bound");
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let rx = TcpStream::connect(addr).expect("connect");
        let (tx, _) = listener.accept().expect("accept");
        // As the server's sockets are.
        tx.set_nodelay(true).expect("nodelay");
        tx.set_nonblocking(true).expect("nonblocking");
        rx.set_nonblocking(true).expect("nonblocking");
        pairs.push((tx, rx));
    }
    let head = [0x81u8, 126, 0, 219];
    let payload = vec![b'x'; 215];
    let cpu = || {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage fills the struct it is given.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    };
    let drain = |pairs: &mut Vec<(TcpStream, TcpStream)>| {
        let mut buf = [0u8; 65536];
        for (_, rx) in pairs.iter_mut() {
            while matches!(rx.read(&mut buf), Ok(k) if k > 0) {}
        }
    };
    let mut ring = io_uring::IoUring::new(4096).expect("io_uring (is it allowed here?)");
    let iov = [IoSlice::new(&head), IoSlice::new(&payload)];
    for method in ["writev per socket", "io_uring, one submit per 4,096"] {
        let (mut cpu_t, mut wall_t) = (0.0, 0.0);
        for _ in 0..rounds {
            let (c0, w0) = (cpu(), Instant::now());
            if method.starts_with("writev") {
                for (tx, _) in pairs.iter_mut() {
                    let k = tx.write_vectored(&iov).expect("writev");
                    assert_eq!(k, 219, "a whole frame");
                }
            } else {
                for chunk in pairs.chunks(4096) {
                    for (i, (tx, _)) in chunk.iter().enumerate() {
                        let e = io_uring::opcode::Writev::new(io_uring::types::Fd(tx.as_raw_fd()), iov.as_ptr().cast(), 2).build().user_data(i as u64);
                        // SAFETY: the buffers outlive the submission (waited for below).
                        unsafe { ring.submission().push(&e).expect("room in the ring") };
                    }
                    ring.submit_and_wait(chunk.len()).expect("submit");
                    let mut done = 0;
                    while done < chunk.len() {
                        for c in ring.completion() {
                            assert_eq!(c.result(), 219, "a whole frame");
                            done += 1;
                        }
                        if done < chunk.len() {
                            ring.submit_and_wait(chunk.len() - done).expect("wait");
                        }
                    }
                }
            }
            cpu_t += cpu() - c0;
            wall_t += w0.elapsed().as_secs_f64();
            drain(&mut pairs);
        }
        let sends = (n * rounds) as f64;
        println!("{method:>32}: {:.2} µs CPU and {:.2} µs wall per send ({n} sockets × {rounds} rounds)", cpu_t / sends * 1e6, wall_t / sends * 1e6);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("io_uring is Linux only");
}
