package test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// quietDials is go-redis's logger without its "failed to dial" lines,
// which every call to a killed node prints during the failover tests.
type quietDials struct{ l *log.Logger }

func (q quietDials) Printf(_ context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "failed to dial") {
		return
	}
	q.l.Output(2, msg)
}

func TestMain(m *testing.M) {
	redis.SetLogger(quietDials{l: log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)})
	os.Exit(m.Run())
}
