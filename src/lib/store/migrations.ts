// Owns the SQLite schema. Migration N brings the database from user_version N-1 to N; each runs in one
// transaction with its user_version bump, so a crash never leaves a half-migrated schema.

export const MIGRATIONS: readonly string[] = [
  // 1: jobs and their steps, the agent's heartbeat row, drain state and history, config-as-code syncs.
  `
  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'running', 'succeeded', 'failed', 'cancelled')),
    reason TEXT,
    executor TEXT NOT NULL,
    executor_handle TEXT,
    exit_code INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX jobs_state ON jobs (state, seq);

  CREATE TABLE job_steps (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
    exit_code INTEGER,
    image_digest TEXT,
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (job_id, step_index)
  );

  CREATE TABLE agent (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    http_addr TEXT NOT NULL,
    grpc_addr TEXT NOT NULL,
    executor TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    stopped_at TEXT
  );

  -- One row per drain, from request to its end. last_admitted_seq is the highest jobs.seq committed before
  -- the drain (every job admitted as queued after it would be a bug); ended_by/end_message record a cancel.
  CREATE TABLE drain_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT CHECK (outcome IN ('drained', 'forced', 'timed_out', 'cancelled')),
    deadline_at TEXT,
    force INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    requested_by TEXT,
    ended_by TEXT,
    end_message TEXT,
    last_admitted_seq INTEGER NOT NULL DEFAULT 0,
    jobs_waited_for TEXT NOT NULL DEFAULT '[]',
    jobs_killed TEXT NOT NULL DEFAULT '[]'
  );

  -- The singleton drain-state row: the agent enforces it, every admission reads it. history_id names the
  -- drain in progress, so a transition meant for one drain can never end another.
  CREATE TABLE drain_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL CHECK (state IN ('active', 'draining', 'drained')),
    history_id INTEGER REFERENCES drain_history (id),
    requested_at TEXT,
    deadline_at TEXT,
    force INTEGER NOT NULL DEFAULT 0,
    grace_period_ms INTEGER,
    message TEXT,
    requested_by TEXT,
    updated_at TEXT NOT NULL
  );
  INSERT INTO drain_state (id, state, updated_at) VALUES (1, 'active', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

  -- Every config-as-code sync attempt; cac:freshness reads the last successful one.
  CREATE TABLE cac_syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    ok INTEGER,
    revision TEXT,
    error TEXT
  );
  CREATE INDEX cac_syncs_ok ON cac_syncs (ok, finished_at);
  `,
  // 2: Kubernetes Jobs labelled as Danube's that have no job row, as the agent last saw them (`danube status` reads it
  // while the agent is down, without loading the Kubernetes client).
  `
  CREATE TABLE kube_orphans (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    job_id TEXT,
    state TEXT NOT NULL,
    created_at TEXT,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
  );
  `,
  // 3: what a stopped job left behind when its executor stopped waiting for it (Kubernetes pods still terminating at
  // kubernetes.cancelCap), as a JSON array of names; null when nothing was left. `danube drain` names them.
  `
  ALTER TABLE jobs ADD COLUMN left_behind TEXT;
  `,
  // 4: how the running agent's local executor isolates steps (jobs.local.sandbox as probed at start), as JSON
  // {mode, setting, network, reason?, fix?}; null for the Kubernetes executor. `danube status` and the CLI's
  // executor:isolation check read it while the agent cannot answer.
  `
  ALTER TABLE agent ADD COLUMN sandbox TEXT;
  `,
  // 5: the provenance of a finished job: signed (with the key id), skipped (no signing key) or failed (with the
  // reason); null for jobs that did not succeed, which get none. `job show`, the API and `danube status` read it.
  `
  ALTER TABLE jobs ADD COLUMN provenance TEXT CHECK (provenance IN ('signed', 'skipped', 'failed'));
  ALTER TABLE jobs ADD COLUMN provenance_reason TEXT;
  ALTER TABLE jobs ADD COLUMN provenance_key_id TEXT;
  CREATE INDEX jobs_provenance ON jobs (provenance, seq);
  `,
  // 6: the identity of the state directory: an id made once with the database (or, for a database made before this
  // migration, when it runs). The agent sends it with every answer (Danube-State-Id, stateId), and the CLI trusts an
  // answering agent only when it is the id in its own database: an agent of another state directory on the same
  // address is never mistaken for this one's.
  `
  CREATE TABLE state_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state_id TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  INSERT INTO state_identity (id, state_id, created_at) VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
  `,
  // 7: the number of jobs in each state, kept by triggers in the transaction that changes a job, so that
  // `danube status` reads six rows where counting scanned the whole jobs_state index (5 ms per 100,000 jobs, and
  // growing with the years of history a CI system keeps).
  `
  CREATE TABLE job_state_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO job_state_counts (state, n) SELECT state, COUNT(*) FROM jobs GROUP BY state;
  CREATE TRIGGER job_state_counts_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER job_state_counts_update AFTER UPDATE OF state ON jobs WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER job_state_counts_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  END;
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length
