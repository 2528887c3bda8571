import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.impl.security.User;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.server.security.auth.CommunitySecurityModule;
import org.neo4j.server.security.auth.LegacyCredential;
import org.neo4j.server.security.auth.UserSerialization;

/**
 * Runs an embedded Neo4j Community DBMS with its Bolt connector for tests.
 *
 * <p>Usage: {@code java ClaidexNeo4jLauncher HOME_DIR CONFIG_FILE}. The configuration file contains
 * the usual neo4j.conf settings. When the environment variable CLAIDEX_NEO4J_PASSWORD is set and
 * HOME_DIR holds no database yet, the launcher makes it the initial password of the user
 * {@code neo4j}, as {@code neo4j-admin dbms set-initial-password} does. Once Bolt accepts
 * connections it prints {@code CLAIDEX_NEO4J_READY bolt://HOST:PORT} on standard output, with the
 * port actually bound (the configuration may ask for port 0). It shuts the DBMS down when
 * standard input reaches end of file or the JVM receives SIGTERM or SIGINT.
 */
public final class ClaidexNeo4jLauncher {
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: ClaidexNeo4jLauncher HOME_DIR CONFIG_FILE");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path configFile = Path.of(args[1]).toAbsolutePath();
        String password = System.getenv("CLAIDEX_NEO4J_PASSWORD");
        if (password != null && !password.isEmpty()) {
            writeInitialPassword(home, configFile, password);
        }

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(configFile)
                .build();
        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable shutdown = () -> {
            if (stopped.compareAndSet(false, true)) {
                dbms.shutdown();
                System.out.println("CLAIDEX_NEO4J_STOPPED");
                System.out.flush();
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "claidex-neo4j-shutdown"));

        GraphDatabaseAPI system = (GraphDatabaseAPI) dbms.database("system");
        ConnectorPortRegister ports = system.getDependencyResolver().resolveDependency(ConnectorPortRegister.class);
        System.out.println("CLAIDEX_NEO4J_READY bolt://" + ports.getLocalAddress(ConnectorType.BOLT));
        System.out.flush();

        InputStream stdin = System.in;
        byte[] buffer = new byte[256];
        while (stdin.read(buffer) >= 0) {
            // Input is ignored: only end of file matters.
        }
        shutdown.run();
    }

    /**
     * Writes the initial user file that the DBMS reads when it creates its system database.
     * This takes milliseconds, where an ALTER USER statement after start costs several seconds
     * of Cypher planning on a cold JVM.
     */
    private static void writeInitialPassword(Path home, Path configFile, String password) throws IOException {
        Config config = Config.newBuilder()
                .set(GraphDatabaseSettings.neo4j_home, home)
                .fromFile(configFile)
                .build();
        Path initialUsers = CommunitySecurityModule.getInitialUserRepositoryFile(config);
        Files.createDirectories(initialUsers.getParent());
        User user = new User("neo4j", null, LegacyCredential.forPassword(password), false, false);
        new UserSerialization().saveRecordsToFile(new DefaultFileSystemAbstraction(), initialUsers, List.of(user));
    }
}
