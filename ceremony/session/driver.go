package session

import (
	"context"
	"errors"
	"sync"

	"github.com/keyceremony/keyceremony/ceremony/event"
	"github.com/keyceremony/keyceremony/transparency"
)

// Driver owns a session. One goroutine does every operation on it, in the
// order they are asked for, and answers each with the entries it logged
// and a snapshot of the ceremony after it. The console, the line-by-line
// mode and the rehearsal reach the session only through a Driver, and see
// it only as snapshots.
//
// A Driver's methods are safe for concurrent use. Do MUST NOT be called
// from inside an operation. Close MUST be called once its users are done;
// it waits for the operation in progress, if any.
type Driver struct {
	reqs      chan request
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	log       *transparency.Log
	// final is the snapshot taken as the owner stopped: read only once
	// done is closed.
	final Snapshot
}

type request struct {
	ctx   context.Context
	op    Op
	reply chan Result
}

// Result is what one operation did.
type Result struct {
	// Did says what was done, for operations that log nothing.
	Did string
	// Err is why the operation failed; entries it logged before failing
	// are in Logged.
	Err error
	// Logged are the entries the operation logged, in order; each is
	// durable, and its Seq is its index in the log.
	Logged []*event.Entry
	// Snap is the ceremony after the operation.
	Snap Snapshot
	// Seq orders the results: the owner's count of operations done.
	Seq uint64
}

// ErrDriverClosed: the session's owner has stopped; nothing more is done.
var ErrDriverClosed = errors.New("the ceremony's session is closed")

// NewDriver starts the goroutine that owns s. From then on only it touches
// s, until Close returns.
func NewDriver(s *Session) *Driver {
	d := &Driver{reqs: make(chan request), stop: make(chan struct{}), done: make(chan struct{}), log: s.cfg.Log}
	go d.serve(s)
	return d
}

func (d *Driver) serve(s *Session) {
	defer close(d.done)
	defer func() { d.final = s.Snapshot() }()
	var seq uint64
	for {
		select {
		case <-d.stop:
			return
		case r := <-d.reqs:
			seq++
			res := run(r.ctx, s, r.op)
			res.Seq = seq
			r.reply <- res
		}
	}
}

// run does one operation on the owner's goroutine.
func run(ctx context.Context, s *Session, op Op) Result {
	var logged []*event.Entry
	s.cfg.OnAppend = func(a transparency.Appended) { logged = append(logged, a.Entry) }
	defer func() { s.cfg.OnAppend = nil }()
	var res Result
	if op != nil {
		res.Did, res.Err = op.run(ctx, s)
	}
	res.Logged, res.Snap = logged, s.Snapshot()
	return res
}

// Do asks the owner to do op and waits for it. A nil op does nothing and
// returns the ceremony as it stands.
func (d *Driver) Do(ctx context.Context, op Op) Result {
	r := request{ctx: ctx, op: op, reply: make(chan Result, 1)}
	select {
	case d.reqs <- r:
	case <-d.stop:
		return Result{Err: ErrDriverClosed, Snap: d.Snapshot()}
	case <-ctx.Done():
		return Result{Err: ctx.Err()}
	}
	return <-r.reply
}

// Snapshot returns the ceremony as it stands: after the operation in
// progress, if any; once closed, as it stood when the owner stopped.
func (d *Driver) Snapshot() Snapshot {
	select {
	case <-d.done:
		return d.final
	default:
	}
	r := request{ctx: context.Background(), reply: make(chan Result, 1)}
	select {
	case d.reqs <- r:
		return (<-r.reply).Snap
	case <-d.done:
		return d.final
	}
}

// Log is the ceremony's log, whose methods are safe for concurrent use:
// for awaiting its checkpoints.
func (d *Driver) Log() *transparency.Log { return d.log }

// Close stops the owner once the operation in progress, if any, is done.
func (d *Driver) Close() {
	d.closeOnce.Do(func() { close(d.stop) })
	<-d.done
}
