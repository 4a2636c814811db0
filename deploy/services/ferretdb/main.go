// Command captionflow-ferretdb runs FerretDB's embeddable package as a standalone MongoDB-wire
// server for local runs and integration tests, on its PostgreSQL backend (-postgresql-url: filters
// and indexes pushed down to PostgreSQL) or its SQLite backend (-sqlite-dir: every query scans).
//
// Why a wrapper: `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.x` builds, but the
// binary panics at start because its generated build/version files are not in the module zip.
// The embeddable package (github.com/FerretDB/FerretDB/ferretdb) takes care of that case and
// also keeps telemetry off.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:17017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "", "directory for the SQLite databases (the SQLite backend)")
	pg := flag.String("postgresql-url", "", "PostgreSQL URL (the PostgreSQL backend, on a server run elsewhere)")
	pgBin := flag.String("postgres-bin", "", "PostgreSQL's bin folder: start a server of our own for the PostgreSQL backend")
	pgData := flag.String("postgres-data", "", "with -postgres-bin: the server's data folder (created if empty)")
	pgPort := flag.Int("postgres-port", 17432, "with -postgres-bin: the server's port on 127.0.0.1")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	backends := 0
	for _, set := range []bool{*dir != "", *pg != "", *pgBin != ""} {
		if set {
			backends++
		}
	}
	if backends != 1 || (*pgBin != "") != (*pgData != "") {
		fmt.Fprintln(os.Stderr, "exactly one of -sqlite-dir, -postgresql-url and -postgres-bin (with -postgres-data) is required")
		os.Exit(2)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "bad -log-level %q: %v\n", *level, err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *pgBin != "" {
		server, err := startPostgres(ctx, logger, *pgBin, *pgData, *pgPort)
		if err != nil {
			logger.Error("postgresql start failed", "error", err)
			os.Exit(1)
		}
		defer server.stop()
		url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", *pgPort)
		pg = &url
	}

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
	}
	backend := ""
	if *pg != "" {
		config.Handler = "postgresql"
		config.PostgreSQLURL = *pg
		backend = "postgresql"
	} else {
		// SQLite URIs must name a directory with a trailing slash.
		url := "file:" + *dir
		if url[len(url)-1] != '/' {
			url += "/"
		}
		config.Handler = "sqlite"
		config.SQLiteURL = url
		backend = "sqlite"
	}

	f, err := ferretdb.New(config)
	if err != nil {
		logger.Error("start failed", "error", err)
		os.Exit(1)
	}

	logger.Info("listening", "addr", *listen, "backend", backend)

	// Run returns when ctx is cancelled (SIGTERM, SIGINT); the deferred stops then shut the
	// PostgreSQL server down. On a failure the server gets SIGQUIT when this process exits.
	if err := f.Run(ctx); err != nil {
		logger.Error("run failed", "error", err)
		os.Exit(1)
	}
}
