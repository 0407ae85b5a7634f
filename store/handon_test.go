package store

import (
	"testing"
	"time"
)

// A deferred recipient's deferral is taken out of the rollups only when its
// first decision is the hop whose link leads to a message that deferred it
// too (handedOnSQL). These check the streaming rollups against that rule
// where a recipient has several hops, and where the first message is
// forgotten by the writer's memory in between (cases a review found).
func TestHandOn(t *testing.T) {
	// A step is an attempt of u@b.example: in message msg (0 is M, 1 and
	// 2 are N1 and N2), hours after t0, with an outcome; a hop links to
	// message next (-1: no link). forget pushes M out of memory first.
	type step struct {
		msg, hours int
		outcome    string
		next       int
		forget     bool
	}
	deferred := func(msg, hours int) step { return step{msg, hours, OutcomeDeferred, -1, false} }
	hop := func(next int) step { return step{0, 1, OutcomeHop, next, false} }
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"a hop with no link decides, a linked one after it changes nothing",
			[]step{deferred(0, 0), hop(-1), hop(1), deferred(1, 2)}},
		{"two linked hops; their messages defer, M forgotten between",
			[]step{deferred(0, 0), hop(1), hop(2), deferred(1, 2), {2, 2, OutcomeDeferred, -1, true}}},
		{"two linked hops; the first's message delivers, the second's defers",
			[]step{deferred(0, 0), hop(1), hop(2), {1, 2, OutcomeDelivered, -1, false}, deferred(2, 2)}},
		{"one hop; M forgotten before its next message defers",
			[]step{deferred(0, 0), hop(1), {1, 2, OutcomeDeferred, -1, true}, deferred(1, 3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(n int) { maxSeenMessages = n }(maxSeenMessages)
			maxSeenMessages = 8
			db, _ := openTest(t, Options{})
			withBatch(t, db, func(b *Batch) {
				var ids []int64
				for i, q := range []string{"M1", "N1", "N2"} {
					ids = append(ids, must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: q,
						FirstSeen: t0.Add(time.Duration(i) * time.Minute), Sender: "s@a.example", HasSender: true})))
				}
				for _, s := range c.steps {
					if s.forget {
						for i := range 40 {
							id := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "X" + string(rune('A'+i)), FirstSeen: t0}))
							must[int64](t)(b.AddDelivery(Delivery{MessageRef: id, Host: "mx", Time: t0, Recipient: "x@c.example", Outcome: OutcomeDelivered, Final: true}))
						}
					}
					d := Delivery{MessageRef: ids[s.msg], Host: "mx", Time: t0.Add(time.Duration(s.hours) * time.Hour), Recipient: "u@b.example",
						Outcome: s.outcome, Final: s.outcome == OutcomeDelivered}
					if s.next >= 0 {
						d.NextMessageRef = ids[s.next]
					}
					must[int64](t)(b.AddDelivery(d))
				}
			})
			verifyRollup(t, db)
		})
	}
}
