package stress

// The random-operation engine: a worker is a helper process (the test
// binary re-executed, package helper) that runs several threads, each
// making a random sequence of ops from its own seeded generator (ops.go
// lists them) on embryos it owns, and checking every result against the
// contract (contract_test.go) given what it knows of each embryo (its
// model). Threads own their embryos: what one thread knows is never
// changed by another, so every expected errno is exact. The interleaving
// of threads and processes is not reproducible; the sequence of ops each
// thread tries is, from the seed (seedFor).

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// seedFor derives the seed of one stream (a worker of a round, a thread
// of it) from the test's seed: splitmix64 over the seed and the indexes.
func seedFor(seed uint64, idx ...int) uint64 {
	x := seed
	for _, i := range idx {
		x ^= uint64(i) + 0x9e3779b97f4a7c15 + (x << 6) + (x >> 2)
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		x = z ^ (z >> 31)
	}
	return x
}

// workerArg is what TestStress tells a worker.
type workerArg struct {
	Seed          uint64 // the test's seed; the worker's streams are seedFor(Seed, Round, Worker, thread)
	Round, Worker int
	Threads       int
	Duration      time.Duration
	Dir           string // a directory for the worker's files
	PidsCg        string // the worker's pids cgroup (v1 or v2), which it joins
	KillCg        string // a cgroup v2 directory for the cgroup.kill and cgroup.freeze ops
}

// failure is one broken expectation, with what led to it.
type failure struct {
	Where string // "round R worker W thread T op N"
	Op    string
	What  string
	Log   []string // the thread's last ops
}

func (f failure) String() string {
	return fmt.Sprintf("%s: %s: %s\nlast ops of the thread:\n  %s", f.Where, f.Op, f.What, strings.Join(f.Log, "\n  "))
}

type workerResult struct {
	Counters *counters
	Failures []failure
	Ops      int
}

// The model of an embryo, as its thread knows it.
type emb struct {
	id     int
	state  embState
	exec   execKind // the program configured (kNone: none)
	pid    int      // once started
	refs   int      // the thread's fds on it
	killed []unix.Signal
	table  fdModel
}

// fdModel is the embryo's descriptor table, as far as the thread knows
// it: after PIDFD_FD_INHERIT it is unknown.
type fdModel struct {
	unknown bool
	open    map[int]bool
}

func (m *fdModel) add(fd int) {
	if m.open == nil {
		m.open = map[int]bool{}
	}
	m.open[fd] = true
}

func (m *fdModel) del(fd int) { delete(m.open, fd) }

// slot is one of the thread's fds on an embryo (several slots may share
// an embryo: dup).
type slot struct {
	fd int
	e  *emb
}

// worker is one worker process.
type worker struct {
	arg workerArg
	res workerResult
	mu  sync.Mutex // res

	stop atomic.Bool

	// Files the ops name, made in arg.Dir.
	dir   string
	paths map[execKind]string
	fifo2 string // a FIFO nobody holds open
	sub   string // a directory
	file  string // a regular file, not executable

	// Descriptors the ops pass (all close-on-exec).
	devnull, pipeR, pipeW, fifoFd, dirFd, pathFd, fileFd, selfPidfd, busyFd int
	// closedFd is a descriptor number that is never open.
	closedFd int

	tmpNoexec bool
	nofile    uint64
	seq       atomic.Int64

	peer   *peerClient
	killMu sync.Mutex // the kill cgroup: one scenario at a time
}

// peerFD is the worker's socket to its peer (ExtraFiles[0]).
const peerFD = 3

func helperWorker(raw json.RawMessage) (any, error) {
	var arg workerArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(peerFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("peer socket: %w", err)
	}
	if err := pidfd.Probe(); err != nil {
		return nil, fmt.Errorf("probing empty pidfds: %w", err)
	}
	w := &worker{arg: arg, res: workerResult{Counters: newCounters()}, peer: &peerClient{fd: peerFD}}
	if err := w.setup(); err != nil {
		return nil, fmt.Errorf("worker %d setup: %w", arg.Worker, err)
	}
	base, err := w.baseline()
	if err != nil {
		return nil, err
	}
	w.run()
	w.checkLocal(base)
	return w.res, nil
}

// setup joins the pids cgroup and makes the files and descriptors the ops
// use.
func (w *worker) setup() error {
	// Threads first: the Go runtime makes most of its threads before
	// the baseline.
	if err := embryo.JoinPidsCgroup(w.arg.PidsCg, w.arg.Threads+4); err != nil {
		return err
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	w.nofile = rl.Cur
	w.closedFd = int(min(rl.Cur-1, 3999))
	w.dir = w.arg.Dir
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(w.dir, &st); err == nil && st.Flags&unix.ST_NOEXEC != 0 {
		w.tmpNoexec = true
	}
	p := func(name string) string { return filepath.Join(w.dir, name) }
	w.paths = map[execKind]string{
		kTrue:     childreport.TruePath,
		kMissing:  p("missing"),
		kDir:      w.dir,
		kFifo:     p("fifo"),
		kDevNull:  "/dev/null",
		kNoexec:   p("noexec"),
		kGarbage:  p("garbage"),
		kNoInterp: p("nointerp"),
		kBusy:     p("busy"),
		kSymlink:  p("link"),
		kRelative: filepath.Base(childreport.TruePath),
		kEmpty:    "",
	}
	w.fifo2, w.sub, w.file = p("fifo2"), p("sub"), p("noexec")
	for _, f := range []struct {
		path string
		mode os.FileMode
		data string
	}{
		{p("noexec"), 0o644, "#!" + childreport.TruePath + "\n"},
		{p("garbage"), 0o755, "\x01\x02\x03\x04 stress garbage: no format knows this\n"},
		{p("nointerp"), 0o755, "#!/nonexistent/interpreter\n"},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return err
		}
	}
	if err := copyFile(childreport.TruePath, p("busy"), 0o755); err != nil {
		return err
	}
	for _, f := range []string{p("fifo"), w.fifo2} {
		if err := unix.Mkfifo(f, 0o600); err != nil {
			return fmt.Errorf("mkfifo %s: %w", f, err)
		}
	}
	if err := os.Mkdir(w.sub, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(childreport.TruePath, p("link")); err != nil {
		return err
	}
	opens := []struct {
		dst   *int
		path  string
		flags int
	}{
		{&w.devnull, "/dev/null", unix.O_RDWR},
		{&w.fifoFd, p("fifo"), unix.O_RDWR | unix.O_NONBLOCK},
		{&w.dirFd, w.dir, unix.O_RDONLY | unix.O_DIRECTORY},
		{&w.pathFd, "/bin", unix.O_PATH},
		{&w.fileFd, p("noexec"), unix.O_RDONLY},
		// An executable open for writing: its exec is ETXTBSY.
		{&w.busyFd, p("busy"), unix.O_WRONLY},
	}
	for _, o := range opens {
		fd, err := unix.Open(o.path, o.flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", o.path, err)
		}
		*o.dst = fd
	}
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	w.pipeR, w.pipeW = pp[0], pp[1]
	fd, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open(self): %w", err)
	}
	w.selfPidfd = fd
	// Let the Go runtime make what it makes on first use (the netpoller's
	// descriptors) before the baseline.
	if r, wr, err := embryo.NewPipe(); err == nil {
		r.SetReadDeadline(time.Now())
		r.Read(make([]byte, 1))
		r.Close()
		wr.Close()
	}
	return nil
}

// run runs the threads to the deadline, or to the first failure.
func (w *worker) run() {
	deadline := time.Now().Add(w.arg.Duration)
	var wg sync.WaitGroup
	for i := 0; i < w.arg.Threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked for good: a thread an op has changed (a
			// failed setns that succeeded) is discarded at exit.
			runtime.LockOSThread()
			th, err := newThread(w, i)
			if err != nil {
				w.record(failure{Where: w.where(i, -1), Op: "thread-setup", What: err.Error()})
				w.stop.Store(true)
				return
			}
			th.loop(deadline)
			th.cleanup()
			w.mu.Lock()
			w.res.Counters.merge(th.ctr)
			w.res.Ops += th.opIndex
			w.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (w *worker) where(thread, op int) string {
	return fmt.Sprintf("round %d worker %d thread %d op %d", w.arg.Round, w.arg.Worker, thread, op)
}

func (w *worker) record(f failure) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.res.Failures) < 20 {
		w.res.Failures = append(w.res.Failures, f)
	}
}

// thread is one thread of a worker: its generator, its embryos and its
// log.
type thread struct {
	w       *worker
	id      int
	rng     *rand.Rand
	slots   []*slot
	reap    []reapee // started children whose last fd was closed
	nextEmb int
	opIndex int
	log     []string // ring of the last logSize ops
	logPos  int
	ctr     *counters
	mem     *mem
	shared  []byte // the page raw fork children write their results to
	high    int    // a descriptor number of this thread's only (race ops), -1 if none
	failed  bool

	big struct { // persistent arguments
		longPath uintptr // PATH_MAX+ bytes
		longStr  uintptr // longer than MAX_ARG_STRLEN
		maxStr   uintptr // MAX_ARG_STRLEN-1 bytes
	}
}

type reapee struct {
	pid    int
	killed []unix.Signal
}

const logSize = 48

func newThread(w *worker, id int) (*thread, error) {
	th := &thread{
		w:   w,
		id:  id,
		rng: rand.New(rand.NewPCG(seedFor(w.arg.Seed, w.arg.Round, w.arg.Worker), uint64(id))),
		ctr: newCounters(),
		log: make([]string, 0, logSize),
	}
	var err error
	if th.mem, err = newMem(1 << 20); err != nil {
		return nil, err
	}
	if th.shared, err = sharedPage(); err != nil {
		return nil, err
	}
	th.high = -1
	if base := int(min(w.nofile, 2048)) - 64; base > 256 {
		th.high = base - 1 - id
	}
	long := strings.Repeat("p", unix.PathMax+16)
	th.big.longPath = th.mem.cstr(long)
	th.big.longStr = th.mem.cstr(strings.Repeat("s", maxArgStrlen+16))
	th.big.maxStr = th.mem.cstr(strings.Repeat("m", maxArgStrlen-1))
	th.mem.setMark()
	return th, nil
}

// maxArgStrlen is exec's MAX_ARG_STRLEN: the longest argv or envp string,
// its NUL included.
const maxArgStrlen = 32 * 4096

func (th *thread) logf(format string, args ...any) {
	s := fmt.Sprintf("#%d ", th.opIndex) + fmt.Sprintf(format, args...)
	if len(th.log) < logSize {
		th.log = append(th.log, s)
		return
	}
	th.log[th.logPos] = s
	th.logPos = (th.logPos + 1) % logSize
}

func (th *thread) logTail() []string {
	return append(slices.Clone(th.log[th.logPos:]), th.log[:th.logPos]...)
}

// fail records a broken expectation and stops the worker.
func (th *thread) fail(op, what string) {
	th.failed = true
	th.logf("FAIL %s: %s", op, what)
	th.w.record(failure{Where: th.w.where(th.id, th.opIndex), Op: op, What: what, Log: th.logTail()})
	th.w.stop.Store(true)
}

// expect counts a result under key and checks it against allowed.
func (th *thread) expect(key, detail string, got unix.Errno, allowed errset) bool {
	th.ctr.add(key, got)
	th.logf("%s %s -> %s", key, detail, errnoName(got))
	if allowed.has(got) {
		return true
	}
	th.fail(key, fmt.Sprintf("%s: got %s, want one of %v (unclean errno)", detail, errnoName(got), allowed))
	return false
}

// check records a failed invariant (a condition beyond the errno).
func (th *thread) check(key string, ok bool, format string, args ...any) bool {
	th.ctr.Invariants++
	if !ok {
		th.fail(key, fmt.Sprintf(format, args...))
	}
	return ok
}

func (th *thread) loop(deadline time.Time) {
	for ; !th.w.stop.Load() && time.Now().Before(deadline); th.opIndex++ {
		th.mem.reset()
		op := pickOp(th.rng, len(th.slots))
		op.fn(th)
		if th.failed {
			return
		}
	}
}

// Slots.

func (th *thread) addSlot(fd int, e *emb) *slot {
	s := &slot{fd: fd, e: e}
	e.refs++
	th.slots = append(th.slots, s)
	return s
}

func (th *thread) newEmb() *emb {
	th.nextEmb++
	return &emb{id: th.nextEmb}
}

// anySlot returns a random slot, nil if the thread has none.
func (th *thread) anySlot() *slot {
	if len(th.slots) == 0 {
		return nil
	}
	return th.slots[th.rng.IntN(len(th.slots))]
}

// slotWhere returns a random slot whose embryo satisfies ok, nil if none.
func (th *thread) slotWhere(ok func(*emb) bool) *slot {
	var c []*slot
	for _, s := range th.slots {
		if ok(s.e) {
			c = append(c, s)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[th.rng.IntN(len(c))]
}

// closeSlot closes s and updates the model: the last fd of an unstarted
// embryo destroys it; that of a started, unreaped one leaves a child to
// reap.
func (th *thread) closeSlot(s *slot) {
	i := slices.Index(th.slots, s)
	if i < 0 {
		return
	}
	th.slots = slices.Delete(th.slots, i, i+1)
	err := unix.Close(s.fd)
	th.expect("close", fmt.Sprintf("fd %d (embryo %d, %v)", s.fd, s.e.id, s.e.state), errnoOf(err), okOnly)
	s.e.refs--
	if s.e.refs == 0 && s.e.state == stStarted {
		th.reap = append(th.reap, reapee{pid: s.e.pid, killed: s.e.killed})
	}
}

// cleanup closes every slot and reaps every child the thread started.
func (th *thread) cleanup() {
	for len(th.slots) > 0 {
		s := th.slots[len(th.slots)-1]
		if s.e.state == stStarted && s.e.refs == 1 && !th.failed {
			th.waitStarted(s, "cleanup")
		}
		th.closeSlot(s)
	}
	for _, r := range th.reap {
		th.reapPid(r)
	}
	th.reap = nil
	th.mem.free()
	unix.Munmap(th.shared)
}

// reapPid reaps a started child whose pidfds are all closed.
func (th *thread) reapPid(r reapee) {
	fd, err := pidfd.Open(r.pid, 0)
	if err != nil {
		th.fail("reap", fmt.Sprintf("pidfd_open(%d) of a started child not reaped yet: %v", r.pid, errnoName(errnoOf(err))))
		return
	}
	defer unix.Close(fd)
	ex, err := embryo.WaitExit(fd, waitTimeout)
	if err != nil {
		th.fail("reap", fmt.Sprintf("child %d: %v", r.pid, err))
		return
	}
	th.checkExit("reap", ex, r.killed)
}

// checkExit: a started child runs true-static, which exits 0, unless a
// fatal signal the thread sent reached it first.
func (th *thread) checkExit(key string, ex pidfd.Exit, killed []unix.Signal) bool {
	ok := ex.Exited(0)
	for _, s := range killed {
		ok = ok || ex.Signaled(s)
	}
	return th.check(key, ok, "the child ended %v; want exit 0 (true-static) or a signal it was sent %v", ex, killed)
}

// waitTimeout bounds a wait for a started child to exit.
const waitTimeout = 60 * time.Second
