#!/usr/bin/env bash
# Deploy the course on a JupyterHub, on Debian 12 or Ubuntu 24.04, as root. Safe to run again:
# every step checks what is there first and leaves existing course work alone.
#
#   deploy/setup.sh [options]                 install, or bring an installation up to date
#   deploy/setup.sh --uninstall [--purge]     remove it (--purge: also the course, gradebook,
#                                             exchange, service account and groups)
#
# Run from a checkout of the kit; `deploy/setup.sh --help` lists the options. What it builds:
#   accounts  the graders' Unix group and the students' group (only their members may log in),
#             and the service account that owns the course and runs the graders' shared JupyterLab
#   course    a copy of this checkout (git clone --no-hardlinks), the graders' account and group
#             only (2770/0660, others nothing), with the kit's own environment inside it
#   runtime   the students' Python environment: JupyterLab, nbgrader, numpy, scipy, matplotlib at
#             the kit's pinned versions, with no course material and without the kit's grading
#             package; Formgrader, Create Assignment and the course list are disabled in it
#   exchange  nbgrader's exchange: its root root's (0755: no student creates a course's folder in
#             it), the course's folder the service account's (0755); nbgrader is told not to ask
#             for a root everyone may write (gankit/nbgrader_adapter/exchange.py)
#   gradebook a PostgreSQL role and database owned by the service account, reached over the local
#             socket with peer authentication (no password to keep; no other account gets in)
#   hub       JupyterHub and its proxy, on 127.0.0.1 by default, its state in one folder, an idle
#             culler, every user's server from the runtime; a systemd unit where systemd runs
#   homes     private (0700) for every member of the two groups, and for accounts made later
#             (DIR_MODE in /etc/adduser.conf, HOME_MODE in /etc/login.defs; --uninstall puts
#             back the lines it changed)
#
# One machine without a hub (students log in and use a terminal, or their own JupyterLab):
#   deploy/setup.sh --no-hub --instructor USER --student USER ...
#                                             only the students' group, homes, runtime (on every
#                                             login shell's PATH, with the nbgrader settings
#                                             students need) and the exchange, the course's folder
#                                             in it USER's; the instructor works in their own
#                                             checkout of the kit
set -euo pipefail

kit="$(cd "$(dirname "$0")/.." && pwd)"
course_id="$(sed -n 's/^COURSE_ID = "\(.*\)"$/\1/p' "$kit/gankit/__init__.py")"  # the kit's one record of it
prefix=/opt/gankit
course_dir=/srv/gankit/$course_id
state=/var/lib/gankit-hub
logs=/var/log/gankit-hub
exchange=/srv/nbgrader/exchange
graders_group=$course_id-graders
students_group=$course_id-students
service_account=grader-$course_id
database=$course_id
bind=127.0.0.1
port=8000
hub_port=8081
proxy_api_port=8001
service_port=9999
cull_after=3600
graders=()
students=()
instructor=""
admins=()
packages=1
hub=1
action=install
purge=0

usage() {
  sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF
Options (defaults in brackets):
  --grader USER        add an existing account to the graders' group (repeatable)
  --student USER       add an existing account to the students' group (repeatable)
  --instructor USER    with --no-hub: the account that releases the course (owns its folder in
                       the exchange; with the hub, the service account does)
  --admin USER         make a user a hub admin (repeatable) [nobody]
  --bind ADDRESS       the address the hub listens on [$bind]; keep it behind a TLS proxy
  --port N             the hub's public port [$port]
  --hub-port N, --proxy-api-port N, --service-port N
                       loopback ports of the hub, its proxy's API and the graders' JupyterLab
                       [$hub_port, $proxy_api_port, $service_port]
  --cull-after SECONDS stop a user's server idle this long [$cull_after]
  --prefix DIR         runtime, proxy and hub configuration [$prefix]
  --course-dir DIR     the course directory [$course_dir]
  --state DIR          the hub's database, cookie secret and pid files [$state]
  --logs DIR           the hub's log (every user's server logs there too) [$logs]
  --exchange DIR       nbgrader's exchange [$exchange]
  --graders-group NAME, --students-group NAME, --service-account NAME, --database NAME
                       [$graders_group, $students_group, $service_account, $database]
  --no-packages        do not install Debian packages (python3-venv, bubblewrap, postgresql, npm)
  --no-hub             students on one machine: their group, runtime and exchange only (no hub,
                       no course copy, no PostgreSQL); the instructor uses their own checkout
  --uninstall [--purge]
EOF
}

# Bad arguments: one line naming what is wrong and what to do, exit status 2, before anything is done.
bad() { echo "setup.sh: $* (see --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
  --grader | --student | --admin | --bind | --port | --hub-port | --proxy-api-port | --service-port | \
    --cull-after | --prefix | --course-dir | --state | --logs | --exchange | --graders-group | \
    --students-group | --service-account | --database)
    [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || bad "$1 needs a value"
    ;;
  esac
  case "$1" in
  --grader) graders+=("$2"); shift ;;
  --student) students+=("$2"); shift ;;
  --instructor) instructor="$2"; shift ;;
  --admin) admins+=("$2"); shift ;;
  --bind) bind="$2"; shift ;;
  --port) port="$2"; shift ;;
  --hub-port) hub_port="$2"; shift ;;
  --proxy-api-port) proxy_api_port="$2"; shift ;;
  --service-port) service_port="$2"; shift ;;
  --cull-after) cull_after="$2"; shift ;;
  --prefix) prefix="$2"; shift ;;
  --course-dir) course_dir="$2"; shift ;;
  --state) state="$2"; shift ;;
  --logs) logs="$2"; shift ;;
  --exchange) exchange="$2"; shift ;;
  --graders-group) graders_group="$2"; shift ;;
  --students-group) students_group="$2"; shift ;;
  --service-account) service_account="$2"; shift ;;
  --database) database="$2"; shift ;;
  --no-packages) packages=0 ;;
  --no-hub) hub=0 ;;
  --uninstall) action=uninstall ;;
  --purge) purge=1 ;;
  -h | --help) usage; exit 0 ;;
  *) bad "unknown option $1" ;;
  esac
  shift
done
for number in "port=$port" "hub-port=$hub_port" "proxy-api-port=$proxy_api_port" "service-port=$service_port"; do
  value="${number#*=}"
  [[ "$value" =~ ^[0-9]+$ ]] && [ "$value" -ge 1 ] && [ "$value" -le 65535 ] ||
    bad "--${number%%=*} $value is not a port number (1 to 65535)"
done
[[ "$cull_after" =~ ^[0-9]+$ ]] && [ "$cull_after" -ge 60 ] || bad "--cull-after $cull_after must be whole seconds, at least 60"
for path in "$prefix" "$course_dir" "$state" "$logs" "$exchange"; do
  [ "${path#/}" != "$path" ] || bad "$path is not an absolute path: the deployment's folders are named from /"
done
[ "$purge" = 0 ] || [ "$action" = uninstall ] || bad "--purge goes with --uninstall"
if [ "$action" = uninstall ] && [ $((${#graders[@]} + ${#students[@]} + ${#admins[@]})) != 0 ]; then
  bad "--uninstall takes no --grader, --student or --admin"
fi

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root (I create accounts, install packages and start services): su - (Debian has no sudo for root), then run me again"
settings="$prefix/etc/deployment.json"
name="$(basename "$prefix")"              # names the systemd unit and the profile.d file
unit="/etc/systemd/system/$name-hub.service"
profile="/etc/profile.d/$name.sh"
socket_dir=/var/run/postgresql

# Read a setting an earlier run recorded (uninstall needs to know what install made).
recorded() {
  /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$settings" "$1"
}

pg_cluster() { pg_lsclusters --no-header 2>/dev/null | sort -V | tail -n 1; }
as_postgres() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"); }

# Run quietly; on failure show what the command said.
quiet() { local out; out="$(mktemp)"; "$@" >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; die "failed: $*"; }; rm -f "$out"; }

alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# "PID STARTTIME" of each given process and of everything it started, at any depth (the start
# time tells a process from a later one given the same pid).
process_tree() {
  /usr/bin/python3 - "$@" <<'PY'
import os, sys
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), fields[19]  # ppid, starttime
table = {}
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            table[int(name)] = stat(name)
        except OSError:
            pass
tree = {int(pid) for pid in sys.argv[1:] if pid.isdigit() and int(pid) in table}
while True:
    more = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
    if not more:
        break
    tree |= more
for pid in sorted(tree):
    print(pid, table[pid][1])
PY
}

# Kill, from "PID STARTTIME" lines, the processes that still run (the same ones, not a pid reused).
kill_listed() {
  local pid start
  while read -r pid start; do
    [ -n "$pid" ] || continue
    [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$start" ] && kill -KILL "$pid" 2>/dev/null || true
  done
}

# The lines setup changes in /etc (homes made private): file, the line it edits (a Python regular
# expression: the first line that matches), and what it writes there (appended if none matches).
etc_lines=("/etc/adduser.conf" '^#?DIR_MODE=' 'DIR_MODE=0700' "/etc/login.defs" '^HOME_MODE\b' $'HOME_MODE\t0700')
originals="$prefix/etc/etc-originals.json"  # each line as it was before the first install

# Record the originals once (a second run must not take its own edit for the original).
record_etc_lines() {
  [ -f "$originals" ] && return 0
  /usr/bin/python3 - "$originals" "${etc_lines[@]}" <<'PY'
import json, os, re, sys
out, args = sys.argv[1], sys.argv[2:]
found = {}
for path, pattern, ours in zip(args[::3], args[1::3], args[2::3]):
    if os.path.isfile(path):
        lines = open(path).read().splitlines()
        found[path] = {"original": next((l for l in lines if re.match(pattern, l)), None), "ours": ours}
json.dump(found, open(out, "w"), indent=2)
PY
}

# Edit each file: its first matching line becomes setup's (or setup's is appended).
set_etc_lines() {
  /usr/bin/python3 - "${etc_lines[@]}" <<'PY'
import os, re, sys
args = sys.argv[1:]
for path, pattern, ours in zip(args[::3], args[1::3], args[2::3]):
    if not os.path.isfile(path):
        continue
    lines = open(path).read().splitlines()
    at = next((i for i, l in enumerate(lines) if re.match(pattern, l)), None)
    if at is None:
        lines.append(ours)
    else:
        lines[at] = ours
    open(path, "w").write("\n".join(lines) + "\n")
PY
}

# Put back what setup changed: the first line that is still setup's becomes the original (or goes,
# if setup appended it); a line changed since by someone else stays theirs.
restore_etc_lines() {
  [ -f "$originals" ] || return 0
  /usr/bin/python3 - "$originals" <<'PY'
import json, sys
for path, saved in json.load(open(sys.argv[1])).items():
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    if saved["ours"] in lines:
        at = lines.index(saved["ours"])
        lines[at : at + 1] = [] if saved["original"] is None else [saved["original"]]
        open(path, "w").write("\n".join(lines) + "\n")
PY
}

# End exactly what the deployment started: the hub's unit (systemd ends its whole cgroup), else
# the hub and its proxy (their pid files) with everything they started (users' and graders'
# servers, the culler), and any process of the service account, which is the deployment's own.
# Nothing is matched by name: another process that mentions the kit's paths is not the hub's.
stop_hub() {
  if [ -d /run/systemd/system ] && [ -f "$unit" ]; then
    systemctl disable --now "$name-hub.service" >/dev/null 2>&1 || true
  fi
  local pid proxy_pid started_tree
  pid="$(cat "$state/jupyterhub.pid" 2>/dev/null || true)"
  proxy_pid="$(cat "$state/proxy.pid" 2>/dev/null || true)"
  # Read before the hub ends: its children then lose their parent.
  started_tree="$(process_tree $pid $proxy_pid)"
  if [ -n "$pid" ] && alive "$pid"; then
    say "stopping the hub (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 60); do alive "$pid" || break; sleep 0.5; done
  fi
  # Whatever the hub could not stop.
  kill_listed <<<"$started_tree"
  if [ -n "$service_account" ]; then pkill -KILL -u "$service_account" 2>/dev/null || true; fi
}

uninstall() {
  [ -f "$settings" ] || die "no installation under $prefix (no $settings)"
  course_dir="$(recorded course_dir)"; state="$(recorded state)"; logs="$(recorded logs)"
  exchange="$(recorded exchange)"; database="$(recorded database)"
  service_account="$(recorded service_account)"; graders_group="$(recorded graders_group)"
  students_group="$(recorded students_group)"; started_postgres="$(recorded started_postgres)"
  stop_hub
  rm -f "$unit" "$profile"
  [ -d /run/systemd/system ] && systemctl daemon-reload || true
  restore_etc_lines
  rm -rf "$prefix" "$state" "$logs"
  say "removed the hub, the runtime and $profile; put back the lines setup changed in /etc"
  if [ "$purge" = 1 ]; then
    if [ -n "$service_account" ] && [ -n "$(pg_cluster)" ]; then
      as_postgres -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" -c "DROP ROLE IF EXISTS \"$service_account\"" || true
      if [ "$started_postgres" = 1 ]; then
        read -r version cluster _ <<<"$(pg_cluster)"
        others="$(as_postgres -tA -c "SELECT count(*) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")"
        [ "$others" = 0 ] && pg_ctlcluster "$version" "$cluster" stop || true
      fi
    fi
    [ -n "$course_dir" ] && rm -rf "$course_dir" && rmdir --ignore-fail-on-non-empty "$(dirname "$course_dir")" 2>/dev/null || true
    rm -rf "$exchange"
    rmdir --ignore-fail-on-non-empty "$(dirname "$exchange")" 2>/dev/null || true
    [ -n "$service_account" ] && userdel --remove "$service_account" 2>/dev/null || true
    groupdel "$graders_group" 2>/dev/null || true
    groupdel "$students_group" 2>/dev/null || true
    say "purged the course, its gradebook, the exchange, $service_account and the groups"
  else
    say "kept the course ($course_dir), the gradebook ($database), the exchange and the accounts: --purge removes them"
  fi
}

if [ "$action" = uninstall ]; then
  uninstall
  exit 0
fi

started="$(date +%s)"
command -v apt-get >/dev/null || die "this script knows Debian and Ubuntu (apt-get); see the README for other systems"
# Every account named must exist before anything is installed or created.
[ "$hub" = 1 ] || [ ${#graders[@]} = 0 ] ||
  die "--grader needs the hub: without it, graders work in the instructor's own checkout"
for user in "${graders[@]+"${graders[@]}"}" "${students[@]+"${students[@]}"}"; do
  getent passwd "$user" >/dev/null || die "no account $user: create it first (adduser $user), then run me again"
done

# --- Debian packages -------------------------------------------------------------------------
if [ "$packages" = 1 ]; then
  wanted=(python3-venv)
  if [ "$hub" = 1 ]; then
    wanted+=(bubblewrap postgresql make git acl)
    command -v npm >/dev/null || wanted+=(npm)  # a Node.js of your own (e.g. NodeSource) has its npm
  fi
  missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
tools=(/usr/bin/python3)
[ "$hub" = 1 ] && tools+=(bwrap npm pg_lsclusters make)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is missing (rerun without --no-packages)"
done

# --- Accounts --------------------------------------------------------------------------------
if [ "$hub" = 0 ]; then
  [ ${#graders[@]} = 0 ] || die "--grader needs the hub: without it, graders work in the instructor's own checkout"
  graders_group="" service_account="" course_dir="" state="" logs="" database=""
fi
[ -z "$graders_group" ] || getent group "$graders_group" >/dev/null || { groupadd --system "$graders_group"; say "created the group $graders_group"; }
getent group "$students_group" >/dev/null || { groupadd --system "$students_group"; say "created the group $students_group"; }
if [ "$hub" = 1 ] && ! getent passwd "$service_account" >/dev/null; then
  useradd --system --gid "$graders_group" --home-dir "/var/lib/$service_account" --create-home \
    --shell /bin/bash --comment "grades $course_id" "$service_account"
  say "created the service account $service_account"
fi
[ "$hub" = 0 ] || chmod 0700 "/var/lib/$service_account"
for user in "${graders[@]+"${graders[@]}"}"; do
  getent passwd "$user" >/dev/null || die "no account $user: create it first (adduser $user)"
  usermod -aG "$graders_group" "$user"
done
for user in "${students[@]+"${students[@]}"}"; do
  getent passwd "$user" >/dev/null || die "no account $user: create it first (adduser $user)"
  usermod -aG "$students_group" "$user"
done
if [ -n "$instructor" ]; then
  [ "$hub" = 0 ] || die "--instructor is for --no-hub: with the hub, the service account releases the course"
  getent passwd "$instructor" >/dev/null || die "no account $instructor: create it first (adduser $instructor)"
fi

# Homes are private: members of both groups now, and every account adduser or useradd makes later.
mkdir -p "$prefix/etc"
record_etc_lines
set_etc_lines
for group in $graders_group "$students_group"; do
  for user in $(getent group "$group" | cut -d: -f4 | tr , ' '); do
    home="$(getent passwd "$user" | cut -d: -f6)"
    [ -d "$home" ] && [ "$(stat -c %U "$home")" = "$user" ] && chmod 0700 "$home"
  done
done

# --- The course directory: the graders' only (with the hub) -------------------------------------
if [ "$hub" = 1 ]; then  # (not indented: the files written below are indentation-sensitive)
if [ ! -e "$course_dir/nbgrader_config.py" ]; then
  [ -d "$(dirname "$course_dir")" ] || mkdir -p -m 0755 "$(dirname "$course_dir")"
  if [ -d "$kit/.git" ]; then
    # --no-hardlinks: the copy must not share inodes (and so owners and modes) with this checkout.
    git clone --quiet --no-hardlinks "$kit" "$course_dir"
  else
    mkdir -p "$course_dir"
    tar -C "$kit" --exclude=./.venv --exclude=./build --exclude=./gradebook.db -cf - . | tar -C "$course_dir" -xf -
  fi
  say "copied the course to $course_dir"
fi
chown -R "$service_account:$graders_group" "$course_dir"
chmod -R u+rwX,g+rwX,o-rwx "$course_dir"
find "$course_dir" -type d -exec chmod g+s {} +
# Graders (members of the group) may work there too; what they create stays the group's.
setfacl -R -m "d:g:$graders_group:rwX" "$course_dir" 2>/dev/null || true
# Built as root (its pip cache), then handed over; the font cache is built as the account itself,
# or the first graded notebook would print matplotlib's notice to stderr (and score 0 there).
quiet make -C "$course_dir" --no-print-directory venv PYTHON=/usr/bin/python3
course_env="$course_dir/.venv"
chown -R "$service_account:$graders_group" "$course_env"
(cd / && runuser -u "$service_account" -- "$course_env/bin/python" -c "import matplotlib.pyplot")
# Formgrader opens inside the graders' JupyterLab (a frame of the same origin).
mkdir -p "$course_env/etc/jupyter"
cat >"$course_env/etc/jupyter/jupyter_server_config.py" <<EOF
c = get_config()  # noqa: F821  (written by deploy/setup.sh)
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
EOF
chown -R "$service_account:$graders_group" "$course_env/etc"
# The service account's terminals find the kit's nbgrader first (login shells reset PATH).
echo "PATH=\"$course_env/bin:\$PATH\"" >"/var/lib/$service_account/.profile"
chown "$service_account:$graders_group" "/var/lib/$service_account/.profile"
fi  # the course directory

# --- The students' runtime: no course material in it ---------------------------------------------
runtime="$prefix/runtime"
mkdir -p "$prefix/etc" "$prefix/bin"
chmod 0755 "$prefix" "$prefix/etc" "$prefix/bin"
stamp="$runtime/.installed"
want="$(cat "$kit/requirements.lock" "$kit/deploy/runtime-requirements.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the students' runtime in $runtime"
  [ -x "$runtime/bin/python" ] || /usr/bin/python3 -m venv "$runtime"
  quiet "$runtime/bin/python" -m pip install --disable-pip-version-check \
    -r "$kit/deploy/runtime-requirements.txt" -c "$kit/requirements.lock"
  # As in the kit's own environment (Makefile): a grammar built on import, in every student's server.
  quiet "$runtime/bin/python" -m pip uninstall --disable-pip-version-check --yes rfc3987-syntax
  # Students get the Assignments list and Validate, not the instructors' tools.
  for plugin in formgrader create-assignment course-list; do
    "$runtime/bin/jupyter" labextension disable --level=sys_prefix "@jupyter/nbgrader:$plugin" >/dev/null 2>&1
  done
  for extension in formgrader course_list; do
    "$runtime/bin/jupyter" server extension disable --sys-prefix "nbgrader.server_extensions.$extension" >/dev/null 2>&1
  done
  echo "$want" >"$stamp"
fi
# No "Jupyter news" question for students, and no request to the news feed (JupyterLab's
# settings overrides for every user of the runtime; deploy/overrides.json).
install -D -m 0644 "$kit/deploy/overrides.json" "$runtime/share/jupyter/lab/settings/overrides.json"
# Submissions stay their owner's in the exchange (the one file of the kit the runtime holds).
cp "$kit/gankit/nbgrader_adapter/exchange.py" "$("$runtime/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/gankit_exchange.py"
cat >"$runtime/etc/jupyter/nbgrader_config.py" <<EOF
# Every student's nbgrader: the course and its exchange (written by deploy/setup.sh).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "$course_id"
c.Exchange.root = "$exchange"
EOF
# Every exchange command from the kit's classes: nbgrader's own want a root everyone may write.
"$runtime/bin/python" -c 'import gankit_exchange as e
for setting, name in e.exchange_classes("gankit_exchange").items(): print(f"c.ExchangeFactory.{setting} = {name!r}")' \
  >>"$runtime/etc/jupyter/nbgrader_config.py"
chmod -R a+rX,go-w "$runtime"
# Login shells (JupyterLab's terminals among them) reset PATH: put the runtime back on it.
cat >"$profile" <<EOF
# The course's Python environment (nbgrader, jupyter) for every login shell (deploy/setup.sh).
case ":\$PATH:" in *":$runtime/bin:"*) ;; *) PATH="$runtime/bin:\$PATH" ;; esac
EOF

# --- The hub's proxy -----------------------------------------------------------------------------
if [ "$hub" = 1 ]; then
  proxy="$("$kit/tools/hub_proxy.sh" "$prefix/proxy")"
  chmod -R a+rX,go-w "$prefix/proxy"
fi

# --- The exchange ------------------------------------------------------------------------------
# The root is root's, 0755: no student can create the folder of a course (and own it) before its
# instructor does. The course's folder is its instructor's: the service account with the hub.
[ -d "$(dirname "$exchange")" ] || mkdir -p -m 0755 "$(dirname "$exchange")"
mkdir -p "$exchange"
chown root:root "$exchange"
chmod 0755 "$exchange"
owner="${service_account:-$instructor}"
course_exchange="$exchange/$course_id"
if [ -n "$owner" ]; then
  if [ -e "$course_exchange" ] && [ "$(stat -c %U "$course_exchange")" != "$owner" ]; then
    die "$course_exchange belongs to $(stat -c %U "$course_exchange"), not $owner: see what it holds, remove it, run me again"
  fi
  mkdir -p -m 0755 "$course_exchange"
  chown "$owner:" "$course_exchange"
  chmod 0755 "$course_exchange"
elif [ ! -d "$course_exchange" ]; then
  say "no --instructor: $course_exchange is not made, and only root can make it (run me again with --instructor USER)"
fi

if [ "$hub" = 0 ]; then
  /usr/bin/python3 - "$settings" <<EOF
import json, sys
json.dump({
    "hub": False, "course_id": "$course_id", "runtime": "$runtime", "exchange": "$exchange",
    "students_group": "$students_group", "graders_group": "", "service_account": "", "course_dir": "",
    "course_env": "", "state": "", "logs": "", "database": "", "started_postgres": "0",
}, open(sys.argv[1], "w"), indent=2)
EOF
  say "done in $(($(date +%s) - started)) s: students' nbgrader in $runtime (on every login shell's PATH), exchange $exchange"
  exit 0
fi

# --- The gradebook: PostgreSQL, peer authentication over the local socket ------------------------
started_postgres="$( [ -f "$settings" ] && recorded started_postgres || echo 0)"
if [ -z "$(pg_cluster)" ]; then
  pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main >/dev/null
fi
read -r version cluster pg_port pg_status _ <<<"$(pg_cluster)"
if [ "$pg_status" != online ]; then
  pg_ctlcluster "$version" "$cluster" start
  started_postgres=1
fi
[ -n "$(as_postgres -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$service_account'")" ] ||
  as_postgres -c "CREATE ROLE \"$service_account\" LOGIN"
[ -n "$(as_postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" ] ||
  as_postgres -c "CREATE DATABASE \"$database\" OWNER \"$service_account\""
as_postgres -c "REVOKE ALL ON DATABASE \"$database\" FROM PUBLIC"
db_url="postgresql://$service_account@/$database?host=$socket_dir&port=$pg_port"
# Creates the gradebook's tables, and proves the service account gets in with no password.
(cd / && runuser -u "$service_account" -- env "PATH=$course_env/bin:/usr/bin:/bin" "$course_env/bin/python" -c \
  'import sys; from nbgrader.api import Gradebook; Gradebook(sys.argv[1]).close()' "$db_url" >/dev/null 2>&1) ||
  die "the service account cannot reach the gradebook at $db_url (is pg_hba.conf's 'local all all peer' line there?)"

# --- The hub ---------------------------------------------------------------------------------
mkdir -p "$state" "$logs"
chmod 0700 "$state" "$logs"
join() { /usr/bin/python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }
/usr/bin/python3 - "$settings" <<EOF
import json, sys
json.dump({
    "course_id": "$course_id", "course_dir": "$course_dir", "course_env": "$course_env",
    "runtime": "$runtime", "proxy": "$proxy", "state": "$state", "logs": "$logs",
    "exchange": "$exchange", "database": "$database", "db_url": "$db_url",
    "graders_group": "$graders_group", "students_group": "$students_group",
    "service_account": "$service_account", "admins": $(join "${admins[@]+"${admins[@]}"}"),
    "hub": True, "bind_url": "http://$bind:$port", "hub_port": $hub_port, "proxy_api_port": $proxy_api_port,
    "service_port": $service_port, "cull_after": $cull_after, "started_postgres": "$started_postgres",
}, open(sys.argv[1], "w"), indent=2)
EOF
cp "$kit/deploy/jupyterhub_config.py" "$prefix/etc/jupyterhub_config.py"
cat >"$prefix/bin/hub" <<EOF
#!/bin/sh
# Start the course's JupyterHub (deploy/setup.sh wrote this); it logs to $logs/jupyterhub.log.
cd "$state" && exec "$runtime/bin/jupyterhub" -f "$prefix/etc/jupyterhub_config.py" "\$@" >>"$logs/jupyterhub.log" 2>&1
EOF
chmod 0755 "$prefix/bin/hub"
cat >"$unit" <<EOF
[Unit]
Description=JupyterHub for the course $course_id (deploy/setup.sh)
After=network.target postgresql.service

[Service]
ExecStart=$prefix/bin/hub
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable "$name-hub.service" >/dev/null 2>&1
  systemctl restart "$name-hub.service"
  say "the hub runs as the systemd service $name-hub (systemctl status $name-hub)"
else
  # setsid: a session of its own, so the hub outlives the login that started it (no SIGHUP).
  say "no systemd here: start the hub with  setsid -f $prefix/bin/hub </dev/null  (it survives your logout)"
fi
say "done in $(($(date +%s) - started)) s: http://$bind:$port (log: $logs/jupyterhub.log)"
