#!/usr/bin/env python3
"""`dataset-build slurm` against the real Slurm engine (docs/contract.md §7).

Starts munged, slurmctld and slurmd on localhost with a generated one-node
configuration (2 CPUs; every state, spool, log, pid and socket path inside a
temporary directory, which is removed afterwards), submits a 4-shard build of
a generated dataset with `dataset-build slurm`, waits for the job array and
its merge, and checks that the merged `alignments` and `scenes` views equal a
single-machine build of the same tree, row for row, and that --status says
up to date. Prints the wall time of both builds. Stops every daemon it
started, by pid.

Exit 77 (meson: skipped), with the reason, only where Slurm is not installed
or its daemons cannot start here.
"""
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

SKIP = 77
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol",
           "sinfo")
ALIGNMENTS = ("SELECT scene, gt_path, noisy_path, dy, dx, dy_subpx, dx_subpx, "
              "confidence, loss, raw_gain, overexposure_lb, mask_path, "
              "mask_mean, status, error FROM alignments "
              "ORDER BY scene, gt_path, noisy_path")
SCENES = ("SELECT scene, cfa, width, height, n_files, status, error FROM "
          "scenes ORDER BY scene")


def find(name):
    for folder in os.environ.get("PATH", "").split(":") + ["/usr/sbin",
                                                           "/sbin"]:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(db, sql):
    connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


class Cluster:
    """The three daemons, in the foreground, as our children."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.conf = os.path.join(tmp, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def start(self, name, argv, log):
        out = open(log, "ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env=self.env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self):
        # Reverse order: slurmd, slurmctld, munged; each by its pid.
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []

    def alive(self):
        return [name for name, proc in self.procs if proc.poll() is None]


def write_config(tmp, user, ctld_port, d_port):
    host = socket.gethostname()
    paths = {k: os.path.join(tmp, k) for k in ("state", "spool", "log")}
    for path in paths.values():
        os.makedirs(path, exist_ok=True)
    conf = f"""ClusterName=dsbtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={tmp}/munge/socket
CredType=cred/munge
StateSaveLocation={paths['state']}
SlurmdSpoolDir={paths['spool']}
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={paths['log']}/slurmctld.log
SlurmdLogFile={paths['log']}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
PlugStackConfig=/dev/null
MinJobAge=600
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    with open(os.path.join(tmp, "slurm.conf"), "w") as f:
        f.write(conf)


def start_cluster(cluster, tmp):
    """Returns "" when the node is up, else why it is not."""
    munge = os.path.join(tmp, "munge")
    os.makedirs(munge, mode=0o700)
    key = os.path.join(munge, "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(key, 0o600)
    cluster.start("munged", [find("munged"), "-F", "-f", "--key-file", key,
                             "--socket", os.path.join(munge, "socket"),
                             "--pid-file", os.path.join(munge, "munged.pid"),
                             "--seed-file", os.path.join(munge, "seed"),
                             "--log-file", os.path.join(munge, "munged.log")],
                  os.path.join(tmp, "munged.out"))
    for _ in range(100):
        if os.path.exists(os.path.join(munge, "socket")):
            break
        time.sleep(0.1)
    else:
        return "munged did not start: " + tail(os.path.join(tmp, "munged.out"))
    cluster.start("slurmctld", [find("slurmctld"), "-D", "-i", "-f",
                                cluster.conf],
                  os.path.join(tmp, "log", "slurmctld.out"))
    time.sleep(1)
    cluster.start("slurmd", [find("slurmd"), "-D", "-f", cluster.conf],
                  os.path.join(tmp, "log", "slurmd.out"))
    deadline = time.time() + 60
    while time.time() < deadline:
        if len(cluster.alive()) < 3:
            break
        state = subprocess.run([find("sinfo"), "-h", "-o", "%T"],
                               env=cluster.env, capture_output=True,
                               text=True).stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return ""
        time.sleep(0.5)
    return ("the local Slurm node did not come up (daemons running: %s)\n"
            "slurmctld: %s\nslurmd: %s" % (
                ", ".join(cluster.alive()) or "none",
                tail(os.path.join(tmp, "log", "slurmctld.log")),
                tail(os.path.join(tmp, "log", "slurmd.log"))))


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def main():
    binary = os.environ.get("DSB_BINARY")
    if not binary:
        print("DSB_BINARY not set")
        return 1
    missing = [name for name in DAEMONS if find(name) is None]
    if missing:
        print("SKIP: Slurm is not installed here (missing %s); scripts/test "
              "installs slurm-wlm and munge" % ", ".join(missing))
        return SKIP
    tmp = tempfile.mkdtemp(prefix="dsb-slurm-")
    os.chmod(tmp, 0o755)
    cluster = Cluster(tmp)
    try:
        user = run(["id", "-un"]).stdout.strip()
        write_config(tmp, user, free_port(), free_port())
        why = start_cluster(cluster, tmp)
        if why:
            print("SKIP: the Slurm daemons cannot start here: " + why)
            return SKIP

        data = os.path.join(tmp, "data")
        # Larger trees for measuring: DSB_SLURM_SCENES, DSB_SLURM_SIZE.
        generated = run([binary, "synth", data, "--scenes",
                         os.environ.get("DSB_SLURM_SCENES", "8"), "--noisy",
                         "2", "--size",
                         os.environ.get("DSB_SLURM_SIZE", "256x192"),
                         "--max-shift", "12"])
        assert generated.returncode == 0, generated.stderr
        single = os.path.join(tmp, "single")
        shutil.copytree(data, single)

        start = time.monotonic()
        built = run([binary, single, "-q", "-j", "2", "--max-shift", "16"])
        single_s = time.monotonic() - start
        assert built.returncode == 0, built.stdout + built.stderr

        start = time.monotonic()
        submitted = run([binary, "slurm", data, "--shards", "4",
                         "--max-shift", "16", "--", "--time=10"],
                        cwd=tmp, env=cluster.env)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        print(submitted.stdout.strip())
        array_id, merge_id = submitted.stdout.strip().splitlines()[-1].split()
        deadline = time.time() + 300
        while time.time() < deadline:
            queued = run([find("squeue"), "-h", "-j",
                          array_id + "," + merge_id], env=cluster.env)
            if queued.returncode == 0 and not queued.stdout.strip():
                break
            time.sleep(0.2)
        else:
            raise AssertionError("jobs still queued after 300 s:\n" +
                                 queued.stdout)
        slurm_s = time.monotonic() - start

        job = run([find("scontrol"), "show", "job", merge_id],
                  env=cluster.env).stdout
        logs = sorted(f for f in os.listdir(tmp) if f.startswith("slurm-"))
        log_text = "".join("== %s\n%s" % (f, tail(os.path.join(tmp, f), 40))
                           for f in logs)
        assert "JobState=COMPLETED" in job and "ExitCode=0:0" in job, (
            job + log_text)
        # Per-task standard output where sbatch puts it by default.
        assert len(logs) == 5, logs
        assert any("merged 4 task manifests" in tail(os.path.join(tmp, f))
                   for f in logs), log_text

        merged_db = os.path.join(data, "dataset-build.db")
        single_db = os.path.join(single, "dataset-build.db")
        for sql in (ALIGNMENTS, SCENES):
            got, want = rows(merged_db, sql), rows(single_db, sql)
            assert len(want) > 0
            assert got == want, "views differ:\n%s\n%s" % (got, want)
        status = run([binary, "--status", "--max-shift", "16", data])
        assert status.returncode == 0, status.stdout
        print("single-machine build: %.2f s; 4-shard Slurm build (submit to "
              "merged): %.2f s; ratio %.2f" % (single_s, slurm_s,
                                               slurm_s / single_s))
        return 0
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
