package itrust;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * A small stand-in for iTrust: patient records in MariaDB read through JDBC, a health
 * page with the build id and the schema version, and patient search switched off by the
 * plain Redis key featureOffPatientSearch = "true" (as the original apps read flags).
 */
public class ItrustServlet extends HttpServlet {
    private final Properties config = new Properties();

    @Override
    public void init() throws ServletException {
        try (InputStream in = getServletContext().getResourceAsStream("/WEB-INF/itrust.properties")) {
            if (in == null) throw new ServletException("WEB-INF/itrust.properties is missing");
            config.load(in);
            Class.forName("org.mariadb.jdbc.Driver");
        } catch (IOException | ClassNotFoundException e) {
            throw new ServletException(e);
        }
    }

    private Connection database() throws SQLException {
        return DriverManager.getConnection(config.getProperty("jdbc.url"),
                config.getProperty("jdbc.user"), config.getProperty("jdbc.password", ""));
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        response.setContentType("text/plain; charset=UTF-8");
        PrintWriter out = response.getWriter();
        String path = request.getServletPath();
        try (Connection db = database(); Statement st = db.createStatement()) {
            if ("/health".equals(path)) {
                ResultSet rs = st.executeQuery(
                        "SELECT version FROM poseidon_schema_history WHERE success AND kind <> 'repeatable'"
                        + " ORDER BY installed_rank DESC LIMIT 1");
                String schema = rs.next() ? rs.getString(1) : "none";
                out.println("ok build " + config.getProperty("build.id") + " schema " + schema);
            } else if ("true".equals(redisGet("featureOffPatientSearch"))) {
                out.println("patient search is switched off");
            } else {
                ResultSet rs = st.executeQuery("SELECT name FROM patients ORDER BY id");
                while (rs.next()) out.println(rs.getString(1));
            }
        } catch (SQLException e) {
            response.setStatus(503);
            out.println("database unavailable: " + e.getMessage());
        }
    }

    /** GET over RESP: the feature switch is one plain string key. */
    private String redisGet(String key) throws IOException {
        String host = config.getProperty("redis.host", "127.0.0.1");
        int port = Integer.parseInt(config.getProperty("redis.port", "6379"));
        try (Socket socket = new Socket(host, port)) {
            socket.setSoTimeout(2000);
            OutputStream out = socket.getOutputStream();
            byte[] name = key.getBytes(StandardCharsets.UTF_8);
            out.write(("*2\r\n$3\r\nGET\r\n$" + name.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(name);
            out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String header = readLine(in);
            if (!header.startsWith("$") || header.equals("$-1")) return null;
            return readLine(in);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            if (c != '\r') line.append((char) c);
        }
        return line.toString();
    }
}
