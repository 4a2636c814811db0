package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// postgresServer is a PostgreSQL server this process started for FerretDB's PostgreSQL
// backend: a throwaway cluster in a data folder, on loopback, with durability settings off
// (it holds test data only), run as the `postgres` user when this process is root (the server
// refuses to run as root). It shares this process's group, so a signal to the group stops
// both, and it gets SIGQUIT (immediate shutdown) if this process dies first.
type postgresServer struct {
	cmd  *exec.Cmd
	done chan error
}

// credential is the user the server runs as: `postgres` when we are root, else ourselves.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root needs a `postgres` user for the PostgreSQL server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func command(bin, name string, cred *syscall.Credential, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// startPostgres creates the cluster in dataDir if it is not there, starts the server on
// 127.0.0.1:port and waits until it accepts connections.
func startPostgres(ctx context.Context, logger *slog.Logger, bin, dataDir string, port int) (*postgresServer, error) {
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(dataDir, uid, gid); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); os.IsNotExist(err) {
		initdb := command(bin, "initdb", cred, "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
		if err := initdb.Run(); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	cmd := command(bin, "postgres", cred,
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &postgresServer{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres")
		if ready.Run() == nil {
			logger.Info("postgresql ready", "port", port, "data", dataDir)
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("postgres exited before it was ready: %v", err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("postgres was not ready within 60 s")
		}
	}
}

// stop asks for a fast shutdown (SIGINT) and waits for the server to exit.
func (s *postgresServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
