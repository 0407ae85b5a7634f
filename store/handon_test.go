package store

import (
	"testing"
	"time"
)

// handOnMessages inserts messages with these queue IDs, a minute apart.
func handOnMessages(t *testing.T, b *Batch, qids ...string) []int64 {
	var ids []int64
	for i, q := range qids {
		ids = append(ids, must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: q, FirstSeen: t0.Add(time.Duration(i) * time.Minute), Sender: "s@a.example", HasSender: true})))
	}
	return ids
}

// A deferred recipient's deferral is taken out of the rollups only when
// its first decision is the hop whose link leads to a message that
// deferred it too (handedOnSQL): these check the streaming rollups against
// that rule where a recipient has several hops, and where its message's
// memory is forgotten in between (a message of the tests of a review).

// A hop with no link decides first; a second, linked hop changes nothing.
func TestHandOnHopWithoutLinkThenLinked(t *testing.T) {
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		ids := handOnMessages(t, b, "M1", "N1")
		m, n := ids[0], ids[1]
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0, Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
	})
	verifyRollup(t, db)
}

// Two linked hops for one recipient; the first's message defers it, then
// (after M is forgotten) the second's: taken out once.
func TestHandOnTwoHopsForgotten(t *testing.T) {
	defer func(n int) { maxSeenMessages = n }(maxSeenMessages)
	maxSeenMessages = 8
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		ids := handOnMessages(t, b, "M1", "N1", "N2")
		m, n1, n2 := ids[0], ids[1], ids[2]
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0, Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n1}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n2}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n1, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		// Push M out of the writer's memory.
		for i := 0; i < 40; i++ {
			id := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "X" + string(rune('A'+i)), FirstSeen: t0}))
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: id, Host: "mx", Time: t0, Recipient: "x@c.example", Outcome: OutcomeDelivered, Final: true}))
		}
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n2, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
	})
	verifyRollup(t, db)
}

// The first hop's message delivers it, the second's defers it: the second
// hop did not decide, nothing is taken out.
func TestHandOnTwoHopsSecondDefers(t *testing.T) {
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		ids := handOnMessages(t, b, "M1", "N1", "N2")
		m, n1, n2 := ids[0], ids[1], ids[2]
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0, Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n1}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n2}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n1, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDelivered, Final: true}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n2, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
	})
	verifyRollup(t, db)
}

// One hop; the first message is forgotten before the next one defers.
func TestHandOnOneHopForgotten(t *testing.T) {
	defer func(n int) { maxSeenMessages = n }(maxSeenMessages)
	maxSeenMessages = 8
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		ids := handOnMessages(t, b, "M1", "N1")
		m, n1 := ids[0], ids[1]
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0, Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: t0.Add(time.Hour), Recipient: "u@b.example", Outcome: OutcomeHop, NextMessageRef: n1}))
		for i := 0; i < 40; i++ {
			id := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "X" + string(rune('A'+i)), FirstSeen: t0}))
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: id, Host: "mx", Time: t0, Recipient: "x@c.example", Outcome: OutcomeDelivered, Final: true}))
		}
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n1, Host: "mx", Time: t0.Add(2 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: n1, Host: "mx", Time: t0.Add(3 * time.Hour), Recipient: "u@b.example", Outcome: OutcomeDeferred}))
	})
	verifyRollup(t, db)
}
