//! A private nginx in front of ruwsgi, as every uWSGI deployment runs it: `uwsgi_pass` to
//! ruwsgi's uwsgi socket(s) with Debian's stock `uwsgi_params`. nginx is required: without
//! it the tests that use it fail, they never skip (`.ci/run` installs it).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{assert_group_gone, connect, free_port, read_response, wait_until, Response};

/// A private nginx (its own prefix, config, pid and logs in a temp dir, its own process
/// group), stopped on drop as nginx expects: SIGQUIT, then a wait for the master, which waits
/// for its workers; no process of the group may outlive it.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The nginx binary: the usual places, then `PATH`.
fn nginx_bin() -> PathBuf {
    for candidate in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nginx"))
            .find(|p| p.exists())
    });
    found.expect("nginx is required by these tests and was not found: apt-get install nginx")
}

impl Nginx {
    /// nginx on 127.0.0.1:PORT passing everything to the uwsgi socket `upstream`
    /// (`unix:/path` or `127.0.0.1:port`).
    pub fn start(upstream: &str) -> Nginx {
        Nginx::with_servers(&[upstream])
    }

    /// nginx on 127.0.0.1:PORT passing everything to an `upstream` of these uwsgi sockets
    /// (nginx's default round robin; a server that fails is skipped and the request tried on
    /// the next, as `uwsgi_next_upstream` does by default).
    pub fn with_servers(servers: &[&str]) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        // As root, nginx's workers would switch to an unprivileged user that cannot reach a
        // socket inside our 0700 temp dir; keep them as root for the test.
        let user = if root { "user root;" } else { "" };
        let d = dir.path().display();
        let servers: String = servers
            .iter()
            .map(|s| format!("        server {s};\n"))
            .collect();
        let conf = format!(
            "{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
    upstream backend {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {{
            include /etc/nginx/uwsgi_params;
            uwsgi_pass backend;
        }}
    }}
}}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, port, dir };
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        wait_until("nginx to listen", || {
            std::net::TcpStream::connect(addr).ok().map(|_| ())
        });
        nginx
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Sends `raw` on a new connection; nginx's answer.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut s = connect(([127, 0, 0, 1], self.port).into());
        s.write_all(raw).expect("write");
        read_response(&mut s, false).expect("response through nginx")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.child.id();
        // SIGQUIT: nginx's graceful shutdown; the master exits after its workers.
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGQUIT) };
        let end = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- nginx error.log ---\n{}", self.error_log());
            // SAFETY: as above; whatever is left of the group goes too.
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
            return;
        }
        assert_group_gone(pid, "nginx");
    }
}
