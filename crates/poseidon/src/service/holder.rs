//! Who holds a listening TCP port, read from `/proc`: a port that answers is not always
//! the service's (a newcomer's own Tomcat or Jenkins on 8080). Linux only, and only the
//! processes of this network namespace that this user may inspect (root: all).

use std::fs;
use std::io;
use std::path::Path;

/// A process with a socket listening on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command name (`/proc/<pid>/comm`).
    pub command: String,
}

/// TCP state LISTEN in `/proc/net/tcp`.
const LISTEN: &str = "0A";

/// The inodes of the sockets that listen on `port`, on any local address and family (a
/// service bound to 0.0.0.0 or :: answers 127.0.0.1 too).
fn listening_inodes(port: u16) -> io::Result<Vec<u64>> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match fs::read_to_string(table) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // no IPv6 here
            Err(e) => return Err(e),
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            if *state == LISTEN && local_port == Some(port) {
                inodes.extend(inode.parse::<u64>().ok().filter(|&i| i != 0));
            }
        }
    }
    Ok(inodes)
}

/// Whether process `pid` has one of `inodes` among its open files.
fn holds_any(pid: u32, inodes: &[u64]) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|inode| inodes.contains(&inode))
        })
    })
}

fn command_of(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

/// Whether process `pid` listens on `port`.
pub fn listens(pid: u32, port: u16) -> io::Result<bool> {
    Ok(holds_any(pid, &listening_inodes(port)?))
}

/// Every process that listens on `port`, lowest pid first.
pub fn listeners(port: u16) -> io::Result<Vec<Holder>> {
    let inodes = listening_inodes(port)?;
    if inodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut holders: Vec<Holder> = fs::read_dir(Path::new("/proc"))?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| holds_any(pid, &inodes))
        .map(|pid| Holder {
            pid,
            command: command_of(pid),
        })
        .collect();
    holders.sort_by_key(|h| h.pid);
    Ok(holders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_of_a_port_is_this_process_and_only_while_it_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        assert!(listens(me, port).unwrap());
        let holders = listeners(port).unwrap();
        assert_eq!(holders.iter().map(|h| h.pid).collect::<Vec<_>>(), [me]);
        assert!(!holders[0].command.is_empty());
        drop(listener);
        assert!(!listens(me, port).unwrap());
        assert!(listeners(port).unwrap().is_empty());
    }
}
