package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHeaderIDs(t *testing.T) {
	// Header blocks as Exim and Postfix write them (folded), newest first.
	hdr := strings.Split(`Received: from [127.0.0.1] (helo=edge.mailbounce.test)
	by hub.mailbounce.test with esmtp (Exim 4.96)
	(envelope-from <dsnbox+c0001@bounces.example>)
	id 1xXRWr-0004Xv-01
	for ok-c0001-1@ok.example;
	Sun, 29 Nov 2026 01:50:00 +0000
Received: from edge.mailbounce.test (localhost [127.0.0.1])
	by edge.mailbounce.test (Postfix) with ESMTP id 4jcQpt3s5Kz5jyG
	for <ok-c0001-1@ok.example>; Sun, 29 Nov 2026 01:49:58 +0000 (UTC)
Received: by edge.mailbounce.test (Postfix, from userid 0)
	id 3F2A81C0D4; Sun, 29 Nov 2026 01:49:57 +0000 (UTC)
From: Mailbounce Test <dsnbox+c0001@bounces.example>
Message-ID: <c0001@chain.mailbounce.test>
Subject: x`, "\n")
	id, rec := headerIDs(hdr)
	if id != "<c0001@chain.mailbounce.test>" {
		t.Errorf("message id %q", id)
	}
	want := []string{"hub.mailbounce.test 1xXRWr-0004Xv-01", "edge.mailbounce.test 4jcQpt3s5Kz5jyG", "edge.mailbounce.test 3F2A81C0D4"}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("received %q, want %q", rec, want)
	}
}

func TestPlanMessageID(t *testing.T) {
	p := makePlan(3, 1, "c", []string{"smtp"}, "chain.mailbounce.test")
	if p[1].MessageID != "<c0002@chain.mailbounce.test>" {
		t.Errorf("message id %q", p[1].MessageID)
	}
	if !strings.Contains(messageText(p[1], time.Unix(1800000000, 0)), "\r\nMessage-ID: <c0002@chain.mailbounce.test>\r\n") {
		t.Error("message text lacks the planned Message-ID")
	}
	if q := makePlan(3, 1, "c", []string{"smtp"}, ""); q[1].MessageID != "" || !reflect.DeepEqual(q[1].Rcpts, p[1].Rcpts) {
		t.Error("a plan without msgid-domain must be the plan it always was")
	}
}
