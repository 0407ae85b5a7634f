package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// buildSample stores a small history with every outcome; the comments give
// each recipient's story.
func buildSample(t *testing.T, db *DB) {
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	withBatch(t, db, func(b *Batch) {
		msg := func(q string) int64 {
			return must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: q, FirstSeen: t0,
				Sender: "s@sender.example", HasSender: true}))
		}
		add := func(ref int64, at time.Time, rcpt, outcome, reason string, final bool) {
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Host: "mx", Time: at, Recipient: rcpt,
				Relay: "mx.example.com[192.0.2.1]:25", Outcome: outcome, Reason: reason, Final: final,
				Code: 250, Delay: 1.5}))
		}
		m1, m2, m3, m4, m5, m6, m7 := msg("Q1"), msg("Q2"), msg("Q3"), msg("Q4"), msg("Q5"), msg("Q6"), msg("Q7")
		// m1 a: greylisted twice, then delivered.
		add(m1, min(0), "a@example.com", OutcomeDeferred, "greylisted", false)
		add(m1, min(10), "a@example.com", OutcomeDeferred, "greylisted", false)
		add(m1, min(20), "a@example.com", OutcomeDelivered, "", true)
		// m1 b: delivered at once.
		add(m1, min(0), "b@example.com", OutcomeDelivered, "", true)
		// m2 a: the same address in another message is another recipient.
		add(m2, min(1), "a@example.com", OutcomeBounced, "user_unknown", true)
		// m3 c: deferred, still waiting.
		add(m3, min(2), "c@example.com", OutcomeDeferred, "mailbox_full", false)
		// m4 d: deferred, expired five days later (outside the first hour).
		add(m4, min(3), "d@example.com", OutcomeDeferred, "network_error", false)
		add(m4, t0.Add(5*24*time.Hour), "d@example.com", OutcomeExpired, "expired", true)
		// m5 e: handed to a content filter, delivered from the new queue ID.
		add(m5, min(4), "e@example.com", OutcomeHop, "", false)
		add(m6, min(5), "e@example.com", OutcomeDelivered, "", true)
		// m7 x: bounced at another domain.
		add(m7, min(6), "x@Other.Org", OutcomeBounced, "user_unknown", true)

		for _, r := range []Reject{
			{Host: "mx", Time: min(7), Recipient: "spam@example.com", Code: 554, Reason: "blocked"},
			{Host: "mx", Time: min(8), Recipient: "spam2@example.com", Code: 550, Reason: "user_unknown"},
			{Host: "mx", Time: min(9), Client: "bad[198.51.100.1]", Stage: "CONNECT"}, // no recipient
			{Host: "mx", Time: t0.Add(-time.Hour), Recipient: "late@nowhere.example"}, // before the window
		} {
			if err := b.AddReject(r); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestDomainSummary(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	ctx := context.Background()

	all := []DomainRow{
		{Domain: "example.com", Recipients: 6, Delivered: 3, Bounced: 1, Expired: 1, Deferred: 4, DeferredRecipients: 3,
			Rejected: 2, Reasons: map[string]int64{"greylisted": 2, "user_unknown": 1, "mailbox_full": 1, "network_error": 1, "expired": 1}},
		{Domain: "other.org", Recipients: 1, Bounced: 1, Reasons: map[string]int64{"user_unknown": 1}},
		{Domain: "nowhere.example", Rejected: 1},
	}
	got, err := db.DomainSummary(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("all time (-want +got):\n%s", diff)
	}

	// The first hour: d's expiry falls outside, so d is still waiting.
	hour := []DomainRow{
		{Domain: "example.com", Recipients: 6, Delivered: 3, Bounced: 1, Expired: 0, Deferred: 4, DeferredRecipients: 3,
			Rejected: 2, Reasons: map[string]int64{"greylisted": 2, "user_unknown": 1, "mailbox_full": 1, "network_error": 1}},
		{Domain: "other.org", Recipients: 1, Bounced: 1, Reasons: map[string]int64{"user_unknown": 1}},
	}
	got, err = db.DomainSummary(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hour, got); diff != "" {
		t.Errorf("first hour (-want +got):\n%s", diff)
	}

	total := Totals(got)
	if total.Recipients != 7 || total.Bounced != 2 || total.Reasons["user_unknown"] != 2 || total.Rejected != 2 {
		t.Errorf("Totals = %+v", total)
	}

	// The view agrees with the query over all time.
	rows, err := db.Reader().Query(`SELECT domain, recipients, delivered, bounced, expired, deferrals,
		deferred_recipients, rejected FROM v_domain_summary`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var view []DomainRow
	for rows.Next() {
		var r DomainRow
		if err := rows.Scan(&r.Domain, &r.Recipients, &r.Delivered, &r.Bounced, &r.Expired, &r.Deferred,
			&r.DeferredRecipients, &r.Rejected); err != nil {
			t.Fatal(err)
		}
		view = append(view, r)
	}
	if diff := cmp.Diff(all, view, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Reasons" }, cmp.Ignore())); diff != "" {
		t.Errorf("v_domain_summary (-DomainSummary +view):\n%s", diff)
	}
}

func TestViews(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	var host, at, queueID, sender, domain, relay, outcome string
	err := db.Reader().QueryRow(`SELECT host, time, queue_id, sender, domain, relay, outcome
		FROM v_deliveries WHERE recipient = 'x@Other.Org'`).Scan(&host, &at, &queueID, &sender, &domain, &relay, &outcome)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mx", "2025-03-01T12:06:00.000Z", "Q7", "s@sender.example", "other.org", "mx.example.com[192.0.2.1]:25", "bounced"}
	if diff := cmp.Diff(want, []string{host, at, queueID, sender, domain, relay, outcome}); diff != "" {
		t.Errorf("v_deliveries (-want +got):\n%s", diff)
	}
	for view, n := range map[string]int64{"v_deliveries": 11, "v_messages": 7, "v_rejects": 4, "v_domain_summary": 3} {
		if got := count(t, db, `SELECT count(*) FROM `+view); got != n {
			t.Errorf("%s: %d rows, want %d", view, got, n)
		}
	}
}
