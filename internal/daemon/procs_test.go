package daemon

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// procsRecorder records what a procs set, in order.
type procsRecorder struct {
	mu   sync.Mutex
	sets []bool
}

func (r *procsRecorder) set(wide bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, wide)
}

func (r *procsRecorder) saw() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sets)
}

// The daemon runs on one P; a proxy request gives it the runtime's default
// until a second after the last request ends, however the requests overlap
// or end (a broken stream panics out of the handler).
func TestTheDaemonRunsOnOnePButWhileTheProxyForwards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &procsRecorder{}
		p := newProcs(func(string) string { return "" }, rec.set)
		want := func(step string, sets ...bool) {
			t.Helper()
			synctest.Wait()
			if got := rec.saw(); !slices.Equal(got, sets) {
				t.Fatalf("%s: set %v, want %v (false: one P, true: the default)", step, got, sets)
			}
		}
		want("started", false)

		release := map[string]chan struct{}{}
		h := p.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release[r.URL.Path]
			if r.URL.Path == "/broken" {
				panic(http.ErrAbortHandler)
			}
		}))
		request := func(path string) (done chan struct{}) {
			release[path] = make(chan struct{})
			done = make(chan struct{})
			go func() {
				defer close(done)
				defer func() { recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
			}()
			synctest.Wait()
			return done
		}
		end := func(path string, done chan struct{}) {
			close(release[path])
			<-done
		}

		a := request("/a")
		want("a request runs", false, true)
		b := request("/broken")
		end("/a", a)
		time.Sleep(2 * procsLinger)
		want("another still runs", false, true)
		end("/broken", b)
		time.Sleep(procsLinger - time.Millisecond)
		want("less than a linger after the last", false, true)
		time.Sleep(time.Millisecond)
		want("a linger after the last", false, true, false)

		// A request half a linger after another: one P again only a linger
		// after the second.
		end("/c", request("/c"))
		time.Sleep(procsLinger / 2)
		end("/d", request("/d"))
		time.Sleep(procsLinger - time.Millisecond)
		want("a linger after the first of two", false, true, false, true)
		time.Sleep(time.Millisecond)
		want("a linger after the second", false, true, false, true, false)
	})
}

// $GOMAXPROCS is the user's choice: the daemon keeps it, proxy or not.
func TestGOMAXPROCSIsKept(t *testing.T) {
	rec := &procsRecorder{}
	p := newProcs(func(k string) string {
		if k == "GOMAXPROCS" {
			return "4"
		}
		return ""
	}, rec.set)
	if p != nil {
		t.Fatal("a governor despite $GOMAXPROCS")
	}
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	p.serve(h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got := rec.saw(); len(got) != 0 {
		t.Fatalf("set %v with $GOMAXPROCS set", got)
	}
}
