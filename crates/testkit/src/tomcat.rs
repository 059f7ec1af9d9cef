use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, wait_until};

/// Debian's tomcat10 (`CATALINA_HOME`) and its manager webapp.
const CATALINA_HOME: &str = "/usr/share/tomcat10";
const MANAGER_WEBAPP: &str = "/usr/share/tomcat10-admin/manager";

/// A private Tomcat 10: its own `CATALINA_BASE` in a temporary directory, a free port,
/// the manager with a `manager-script` user, auto-deploy checked every second. Killed on
/// drop.
pub struct TomcatServer {
    child: Child,
    port: u16,
    base: TempDir,
    password: String,
}

pub const MANAGER_USER: &str = "deployer";

impl TomcatServer {
    pub fn start(manager_password: &str) -> Result<TomcatServer> {
        if !Path::new(CATALINA_HOME).join("bin/catalina.sh").is_file() {
            bail!(
                "tomcat10 is not installed: scripts/setup.sh installs it (apt tomcat10 tomcat10-admin)"
            );
        }
        let base = tempfile::tempdir()?;
        for dir in ["conf/Catalina/localhost", "webapps", "logs", "temp", "work"] {
            std::fs::create_dir_all(base.path().join(dir))?;
        }
        for file in [
            "web.xml",
            "context.xml",
            "catalina.properties",
            "logging.properties",
        ] {
            std::fs::copy(
                Path::new("/etc/tomcat10").join(file),
                base.path().join("conf").join(file),
            )
            .with_context(|| format!("copying /etc/tomcat10/{file}"))?;
        }
        let port = free_port();
        std::fs::write(base.path().join("conf/server.xml"), server_xml(port))?;
        std::fs::write(
            base.path().join("conf/tomcat-users.xml"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tomcat-users>\n  <role rolename=\"manager-script\"/>\n  <user username=\"{MANAGER_USER}\" password=\"{}\" roles=\"manager-script\"/>\n</tomcat-users>\n",
                xml_escape(manager_password)
            ),
        )?;
        std::fs::write(
            base.path().join("conf/Catalina/localhost/manager.xml"),
            format!(
                "<Context docBase=\"{MANAGER_WEBAPP}\" antiResourceLocking=\"false\" privileged=\"true\"/>\n"
            ),
        )?;
        let child = Command::new(Path::new(CATALINA_HOME).join("bin/catalina.sh"))
            .arg("run")
            .env("CATALINA_HOME", CATALINA_HOME)
            .env("CATALINA_BASE", base.path())
            .env("CATALINA_TMPDIR", base.path().join("temp"))
            .env(
                "JAVA_OPTS",
                "-Xmx384m -XX:TieredStopAtLevel=1 -Djava.security.egd=file:/dev/./urandom",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                base.path().join("logs/console.log"),
            )?))
            .spawn()
            .context("starting catalina.sh run")?;
        let mut server = TomcatServer {
            child,
            port,
            base,
            password: manager_password.to_owned(),
        };
        let ready = wait_until(
            "Tomcat to accept connections",
            Duration::from_secs(90),
            || {
                server.child.try_wait().ok().flatten().is_some()
                    || (TcpStream::connect(("127.0.0.1", port)).is_ok()
                        && std::fs::read_to_string(server.base.path().join("logs/console.log"))
                            .is_ok_and(|log| log.contains("Server startup in")))
            },
        );
        if let Some(status) = server.child.try_wait()? {
            let log = std::fs::read_to_string(server.base.path().join("logs/console.log"))
                .unwrap_or_default();
            bail!(
                "Tomcat exited ({status}): {}",
                &log[log.len().saturating_sub(2000)..]
            );
        }
        ready?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JVM's process id (`catalina.sh run` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn manager_url(&self) -> String {
        self.url("/manager")
    }

    pub fn manager_password(&self) -> &str {
        &self.password
    }

    pub fn webapps(&self) -> PathBuf {
        self.base.path().join("webapps")
    }

    pub fn base(&self) -> &Path {
        self.base.path()
    }
}

impl Drop for TomcatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_xml(port: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.mbeans.GlobalResourcesLifecycleListener"/>
  <GlobalNamingResources>
    <Resource name="UserDatabase" auth="Container" type="org.apache.catalina.UserDatabase"
              factory="org.apache.catalina.users.MemoryUserDatabaseFactory" pathname="conf/tomcat-users.xml"/>
  </GlobalNamingResources>
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost" backgroundProcessorDelay="1">
      <Realm className="org.apache.catalina.realm.UserDatabaseRealm" resourceName="UserDatabase"/>
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="true"/>
    </Engine>
  </Service>
</Server>
"#
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How a test web application behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarKind {
    /// `/health` answers 200 with `build <id>`.
    Healthy,
    /// `/health` answers 500.
    Unhealthy,
    /// The servlet throws in `init()`: the context fails to start.
    FailsAtStartup,
}

/// Builds a WAR with `javac` and `jar` against Tomcat's servlet API: one servlet on
/// `/health` (and `/`) answering `build <build_id>`. `padding_mb` adds an incompressible
/// file to make it large.
pub fn build_war(out: &Path, build_id: &str, kind: WarKind, padding_mb: usize) -> Result<PathBuf> {
    let work = tempfile::tempdir()?;
    let src = work.path().join("src/poseidon/test");
    let root = work.path().join("root");
    std::fs::create_dir_all(&src)?;
    std::fs::create_dir_all(root.join("WEB-INF/classes"))?;
    let (status, boot) = match kind {
        WarKind::Healthy => (200, "ok"),
        WarKind::Unhealthy => (500, "ok"),
        WarKind::FailsAtStartup => (200, "fail"),
    };
    std::fs::write(
        src.join("Health.java"),
        format!(
            r#"package poseidon.test;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.*;
import java.io.IOException;
public class Health extends HttpServlet {{
    @Override public void init() throws ServletException {{
        if ("{boot}".equals("fail")) throw new ServletException("boom at start-up");
    }}
    @Override protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {{
        resp.setStatus({status});
        resp.setContentType("text/plain");
        resp.getWriter().println("build {build_id}");
    }}
}}
"#
        ),
    )?;
    std::fs::write(
        root.join("WEB-INF/web.xml"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet><servlet-name>health</servlet-name><servlet-class>poseidon.test.Health</servlet-class><load-on-startup>1</load-on-startup></servlet>
  <servlet-mapping><servlet-name>health</servlet-name><url-pattern>/health</url-pattern></servlet-mapping>
  <servlet-mapping><servlet-name>health</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
</web-app>
"#,
    )?;
    run(Command::new("javac")
        .arg("-cp")
        .arg(Path::new(CATALINA_HOME).join("lib/servlet-api.jar"))
        .arg("-d")
        .arg(root.join("WEB-INF/classes"))
        .arg(src.join("Health.java")))?;
    if padding_mb > 0 {
        let mut bytes = vec![0u8; padding_mb << 20];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for chunk in bytes.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(root.join("padding.bin"), bytes)?;
    }
    std::fs::create_dir_all(out)?;
    let war = out.join(format!("app-{build_id}.war"));
    run(Command::new("jar")
        .arg("cf0")
        .arg(&war)
        .arg("-C")
        .arg(&root)
        .arg("."))?;
    Ok(war)
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
