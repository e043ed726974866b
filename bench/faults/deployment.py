"""The deployment under test and the faults done to it (standard library only).

A `Deployment` owns the recd cluster processes (1 coordinator, N shard
nodes, 1 API node, all on 127.0.0.1) and knows the private PostgreSQL and
Redis that scripts/faults started: it can restart, freeze and kill them and
run SQL through psql. Every wait here is bounded.
"""
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import time


_held_port_locks = []  # lock file descriptors (not inheritable): this process holds its ports until it exits
_port_cursor = None


def free_port():
    """A loopback port reserved for this process, under the contract of
    tests/support/ports.hpp (shared with scripts/lib.sh's take_port): a port of
    RECD_PORT_RANGE (default 20000-32767) outside the kernel's ephemeral range,
    which outgoing connections (to PostgreSQL, Redis, between nodes) draw from;
    locked by an flock on ${RECD_PORT_LOCK_DIR:-/tmp/recd-ports}/<port>.lock held
    until this process exits (the descriptor is not inherited by the nodes); and
    free to bind when handed out. A node restarted on its port keeps it."""
    global _port_cursor
    text = os.environ.get('RECD_PORT_RANGE') or '20000-32767'
    low, _, high = text.partition('-')
    if not (low.isdigit() and high.isdigit() and 1 <= int(low) <= int(high) <= 65535):
        raise RuntimeError(f'RECD_PORT_RANGE must be LOW-HIGH within 1-65535, not {text!r}')
    low, high = int(low), int(high)
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            elow, ehigh = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        elow, ehigh = 1, 0
    folder = os.environ.get('RECD_PORT_LOCK_DIR') or '/tmp/recd-ports'
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)
        try:
            os.chmod(folder, 0o1777)  # shared by every user's runs, like /tmp
        except OSError:
            pass
    span = high - low + 1
    if _port_cursor is None:
        _port_cursor = os.getpid() * 101 % span
    for i in range(span):
        port = low + (_port_cursor + i) % span
        if elow <= port <= ehigh:
            continue
        try:
            # Read-only suffices for flock and opens another user's lock file.
            lock = os.open(os.path.join(folder, f'{port}.lock'), os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as s:  # no SO_REUSEADDR: a listener or TIME_WAIT refuses
                s.bind(('127.0.0.1', port))
        except OSError:
            os.close(lock)
            continue
        _held_port_locks.append(lock)
        _port_cursor = (_port_cursor + i + 1) % span
        return port
    raise RuntimeError(f'no free port in {low}-{high} outside the ephemeral range {elow}-{ehigh} '
                       f'(locks in {folder})')


def http_get(port, path, timeout=2.0, headers=None, host='127.0.0.1'):
    """(status, body) or (None, reason) when nothing answered."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request('GET', path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)


class Node:
    def __init__(self, name, role, http_port, actor_port, log_dir):
        self.name, self.role = name, role
        self.http_port, self.actor_port = http_port, actor_port
        self.log_path = os.path.join(log_dir, f'{name}.log')
        self.proc = None
        self.starts = 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Deployment:
    def __init__(self, a):
        self.recd = a.recd
        self.run_dir = a.run_dir
        self.pg_port, self.pg_data, self.pg_bin = a.pg_port, a.pg_data, a.pg_bin
        self.pg_user = a.pg_user  # run pg_ctl as this user (root cannot run PostgreSQL)
        self.redis_port, self.redis_pidfile = a.redis_port, a.redis_pidfile
        self.redis_log = os.path.join(a.run_dir, 'redis.log')
        self.db_url = f'postgresql://postgres@127.0.0.1:{self.pg_port}/recd'
        self.coordinator_port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            'RECD_POSTGRES_URL': self.db_url,
            'RECD_REDIS_URL': f'redis://127.0.0.1:{self.redis_port}',
            'RECD_CLUSTER_COORDINATOR': f'127.0.0.1:{self.coordinator_port}',
            'RECD_CLUSTER_APP_ID': f'recd-faults-{os.getpid()}',
        })
        # The admin port of the coordinator, when this build has one (see
        # scripts/faults): the token goes to the coordinator's environment.
        self.admin_url, self.admin_token = a.admin_url, a.admin_token
        self.admin_env = {}
        self.admin_used = False  # the admin port answered (else the old path on the HTTP port)
        if a.admin_addr:
            self.admin_env = {'RECD_ADMIN_ADDR': a.admin_addr, 'RECD_ADMIN_TOKEN': a.admin_token}
        self.nodes = {}
        self.coordinator = self._node('coordinator', 'coordinator')
        self.shards = [self._node(f'shard-{i}', 'shard') for i in range(a.shards)]
        self.api = self._node('api-0', 'api')

    def _node(self, name, role):
        n = Node(name, role, free_port(),
                 self.coordinator_port if role == 'coordinator' else free_port(), self.run_dir)
        self.nodes[name] = n
        return n

    def add_shard(self):
        n = self._node(f'shard-{len(self.shards)}', 'shard')
        self.shards.append(n)
        return n

    # ---- recd processes --------------------------------------------------
    def start(self, node):
        env = dict(self.env)
        env['RECD_HTTP_ADDR'] = f'127.0.0.1:{node.http_port}'
        if node.role != 'api':
            env['RECD_CLUSTER_PORT'] = str(node.actor_port)
        if node.role == 'shard':
            env['RECD_CLUSTER_NODE_NAME'] = node.name
        if node.role == 'coordinator':
            env.update(self.admin_env)
        elif self.admin_env:
            env.update({'RECD_ADMIN_ADDR': '127.0.0.1:0', 'RECD_ADMIN_TOKEN': self.admin_token})
        else:
            env['RECD_ADMIN_ADDR'] = '127.0.0.1:0'  # every node has an admin port (/metrics)
        log = open(node.log_path, 'a')
        log.write(f'---- start {node.starts + 1} at {time.time():.3f}\n')
        log.flush()
        node.proc = subprocess.Popen([self.recd, 'serve', '--role', node.role], env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        node.starts += 1

    def kill9(self, node):
        if node.alive():
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)

    def stop_all(self):
        live = [n for n in self.nodes.values() if n.alive()]
        for n in live:
            n.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for n in live:
            try:
                n.proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait(timeout=5)

    def wait_ready(self, node, timeout=60):
        """Seconds until the node's /readyz answered 200, or None."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if not node.alive():
                return None
            status, _ = http_get(node.http_port, '/readyz', timeout=1)
            if status == 200:
                return time.time() - t0
            time.sleep(0.1)
        return None

    def start_cluster(self):
        self.start(self.coordinator)
        time.sleep(0.5)
        for s in self.shards:
            self.start(s)
        self.start(self.api)
        for n in [self.coordinator] + self.shards + [self.api]:
            if self.wait_ready(n, 120) is None:
                raise RuntimeError(f'{n.name} not ready (see {n.log_path})')

    def compute(self, timeout):
        """Runs `recd compute --coordinator` to the end; (exit status, seconds, last line)."""
        t0 = time.time()
        p = self.start_compute()
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            return None, time.time() - t0, 'timed out'
        return p.returncode, time.time() - t0, last_line(out)

    def start_compute(self):
        return subprocess.Popen([self.recd, 'compute', '--coordinator', self.env['RECD_CLUSTER_COORDINATOR']],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # ---- the admin endpoint: the admin port with a token, else the old path
    def cluster_map(self):
        if self.admin_url:
            host, _, port = self.admin_url.split('//')[-1].rstrip('/').rpartition(':')
            hdr = {'Authorization': f'Bearer {self.admin_token}'} if self.admin_token else {}
            status, body = http_get(int(port), '/admin/cluster', 1.0, hdr, host or '127.0.0.1')
            if status == 200:
                self.admin_used = True
                return json.loads(body)
        status, body = http_get(self.coordinator.http_port, '/admin/cluster', 1.0)
        return json.loads(body) if status == 200 else None

    def wait_map_settled(self, timeout):
        """Seconds until the map is ready, not moving and every partition on a live shard."""
        t0 = seen = time.time()
        while time.time() - t0 < timeout:
            m = self.cluster_map()
            if m is None and time.time() - seen > 5:
                return None  # no map to read (an admin endpoint this harness cannot reach)
            if m is not None:
                seen = time.time()
            if m and m.get('ready') and not m.get('moving') and all(
                    s.get('alive') or not s.get('partitions') for s in m.get('shards', [])):
                return time.time() - t0
            time.sleep(0.1)
        return None

    # ---- PostgreSQL --------------------------------------------------------
    def _as_pg(self, argv):
        return (['runuser', '-u', self.pg_user, '--'] + argv) if self.pg_user else argv

    def pg_restart_immediate(self):
        subprocess.run(self._as_pg([f'{self.pg_bin}/pg_ctl', '-D', self.pg_data, '-m', 'immediate',
                                    '-l', os.path.join(os.path.dirname(self.pg_data), 'log'),
                                    '-w', '-t', '60', 'restart']),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)

    def pg_pids(self):
        """The postmaster and all its children."""
        with open(os.path.join(self.pg_data, 'postmaster.pid')) as f:
            master = int(f.readline())
        pids = [master]
        for d in os.listdir('/proc'):
            if d.isdigit():
                try:
                    with open(f'/proc/{d}/stat') as f:
                        ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                except OSError:
                    continue
                if ppid == master:
                    pids.append(int(d))
        return pids

    def pg_signal(self, sig, pids):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    def sql(self, query, timeout=60):
        r = subprocess.run(['psql', self.db_url, '-Atq', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', query],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f'psql: {r.stderr.strip()}')
        return [line.split('\t') for line in r.stdout.splitlines() if line]

    def wait_pg(self, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                self.sql('SELECT 1', timeout=5)
                return True
            except (RuntimeError, subprocess.TimeoutExpired):
                time.sleep(0.2)
        return False

    # ---- Redis -------------------------------------------------------------
    def redis_kill9(self):
        with open(self.redis_pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not os.path.exists(f'/proc/{pid}'):
                break
            time.sleep(0.05)
        try:
            os.unlink(self.redis_pidfile)  # a stale pidfile keeps the new server from writing it
        except FileNotFoundError:
            pass

    def redis_start(self):
        # The same command line as scripts/lib.sh start_redis.
        subprocess.run(['redis-server', '--port', str(self.redis_port), '--bind', '127.0.0.1',
                        '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
                        '--pidfile', self.redis_pidfile, '--logfile', self.redis_log],
                       check=True, stdout=subprocess.DEVNULL, timeout=10)
        for _ in range(100):
            r = subprocess.run(['redis-cli', '-p', str(self.redis_port), 'ping'],
                               capture_output=True, text=True, timeout=5)
            if r.stdout.strip() == 'PONG':
                return True
            time.sleep(0.05)
        return False

    def api_rss_kib(self):
        try:
            with open(f'/proc/{self.api.proc.pid}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except (OSError, AttributeError):
            pass
        return None


def last_line(text):
    lines = [l for l in (text or '').splitlines() if l.strip()]
    return lines[-1].strip() if lines else ''
