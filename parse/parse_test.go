package parse

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

var ref = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newTestParser() *Parser { return NewParser(Options{Reference: ref, Location: time.UTC}) }

// TestEnvelopes checks every envelope mailbounce must read, each with a
// real line shape.
func TestEnvelopes(t *testing.T) {
	msg := "4Xkp2N0KJjz9sR9: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4DRBDj4tP9zdZLM)"
	tests := []struct {
		name, line string
		want       time.Time
		host, prog string
	}{
		{"bsd space-padded", "Nov  8 07:04:05 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 8, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"bsd unpadded", "Nov 8 07:04:05 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 8, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"postlog zero-padded", "Nov 08 07:04:05 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 8, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"journal short-precise", "Nov 28 07:04:05.123456 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 123456000, time.UTC), "mx1", "postfix/smtp"},
		{"rfc3339", "2026-11-28T07:04:05.123456+01:00 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 6, 4, 5, 123456000, time.UTC), "mx1", "postfix/smtp"},
		{"rfc3339 Z", "2026-11-28T07:04:05Z mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"journal short-iso", "2026-11-28T07:04:05+0100 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 6, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"crlf", "Nov 28 07:04:05 mx1 postfix/smtp[123]: " + msg + "\r\n", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"multi-instance", "Nov 28 07:04:05 mx1 postfix-out/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix-out/smtp"},
		{"submission", "Nov 28 07:04:05 mx1 postfix/submission/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/submission/smtp"},
		{"amavis", "Nov 28 07:04:05 mx1 postfix/amavis/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/amavis/smtp"},
		{"dotted name", "Nov 28 07:04:05 mx1 postfix-239.58.50.50/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix-239.58.50.50/smtp"},
		{"port name", "Nov 28 07:04:05 mx1 postfix/10025/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/10025/smtp"},
		{"no pid", "Nov 28 07:04:05 mx1 postfix/smtp: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"rfc5424", "<22>1 2026-11-28T07:04:05.123Z mx1 postfix/smtp 123 - - " + msg, time.Date(2026, 11, 28, 7, 4, 5, 123e6, time.UTC), "mx1", "postfix/smtp"},
		{"rfc5424 structured data", `<22>1 2026-11-28T07:04:05+01:00 mx1.example.com postfix/smtp 123 ID47 [meta sequenceId="1" note="a \"]\" b"][x@1 y="z"] ` + msg, time.Date(2026, 11, 28, 6, 4, 5, 0, time.UTC), "mx1.example.com", "postfix/smtp"},
		{"rfc5424 BOM, no pid", "<22>1 2026-11-28T07:04:05Z mx1 postfix/smtp - - - \ufeff" + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"priority bsd", "<22>Nov 28 07:04:05 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"syslog-ng date", "2026-11-28 07:04:05 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"syslog-ng date zone", "2026-11-28 07:04:05 +0100 mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 6, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"solaris", "Nov 28 07:04:05 mx1 postfix/smtp[123]: [ID 197553 mail.info] " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
		{"journal short-unix", "1795849445.123456 mx1 postfix/smtp[123]: " + msg, time.Unix(1795849445, 123456000), "mx1", "postfix/smtp"},
		{"journal short-full", "Sat 2026-11-28 07:04:05 UTC mx1 postfix/smtp[123]: " + msg, time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx1", "postfix/smtp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestParser().Parse(tt.line)
			if ev.Kind != KindDelivery || ev.MTA != Postfix {
				t.Fatalf("kind %s mta %s, want delivery postfix", ev.Kind, ev.MTA)
			}
			if !ev.Time.Equal(tt.want) {
				t.Errorf("time %v, want %v", ev.Time, tt.want)
			}
			if ev.Host != tt.host || ev.Program != tt.prog || ev.Service != "smtp" {
				t.Errorf("host %q prog %q service %q", ev.Host, ev.Program, ev.Service)
			}
			if ev.QueueID != "4Xkp2N0KJjz9sR9" || ev.Recipient != "a@example.com" || ev.Outcome != Delivered {
				t.Errorf("qid %q to %q outcome %s", ev.QueueID, ev.Recipient, ev.Outcome)
			}
			if ev.Reply.RemoteID != "4DRBDj4tP9zdZLM" || ev.Delay != 1.2 || ev.Relay.Port != 25 {
				t.Errorf("remote id %q delay %v port %d", ev.Reply.RemoteID, ev.Delay, ev.Relay.Port)
			}
		})
	}
}

// TestShortFullZones: journalctl -o short-full names the zone; in the hour
// that the change to winter time repeats, the name tells which one.
func TestShortFullZones(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	line := " mx1 postfix/qmgr[9]: 4Xkp2N0KJjz9sR9: removed"
	for _, tt := range []struct {
		stamp string
		want  time.Time
	}{
		{"Sun 2026-10-25 02:30:00 CEST", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},
		{"Sun 2026-10-25 02:30:00 CET", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)},
		{"Sat 2026-11-28 07:04:05 CET", time.Date(2026, 11, 28, 6, 4, 5, 0, time.UTC)},
		{"Sat 2026-11-28 07:04:05 GMT", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
	} {
		ev := NewParser(Options{Location: berlin}).Parse(tt.stamp + line)
		if ev.MTA != Postfix || !ev.Time.Equal(tt.want) {
			t.Errorf("%s: mta %s time %v, want %v", tt.stamp, ev.MTA, ev.Time.UTC(), tt.want)
		}
	}
}

func TestEximEnvelopes(t *testing.T) {
	rest := " => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.7] C=\"250 OK id=1ZpCCD-0002J4-Ej\""
	tests := []struct {
		name, line, id string
		want           time.Time
	}{
		{"plain", "2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
		{"millisec", "2026-11-28 07:04:05.250 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 250e6, time.UTC)},
		{"timezone", "2026-11-28 07:04:05 +0200 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 5, 4, 5, 0, time.UTC)},
		{"pid", "2026-11-28 07:04:05 [4321] 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
		{"all", "2026-11-28 07:04:05.250 -0100 [4321] 1rKo4K-00000000Xkp-2abc" + rest, "1rKo4K-00000000Xkp-2abc", time.Date(2026, 11, 28, 8, 4, 5, 250e6, time.UTC)},
		{"syslog", "Nov 28 07:04:05 mx exim[4321]: 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
		{"syslog with stamp", "Nov 28 07:04:06 mx exim4[4321]: 2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
		{"syslog-ng date", "2026-11-28 07:04:06 mx exim[4321]: 2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
		{"rfc5424", "<22>1 2026-11-28T07:04:06Z mx exim 4321 - - 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 6, 0, time.UTC)},
		{"forwarded, date stripped", "mail.example.com exim[3751842]: 2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd" + rest, "1pXyZ1-0001Ab-Cd", time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestParser().Parse(tt.line)
			if ev.Kind != KindDelivery || ev.MTA != Exim || ev.QueueID != tt.id {
				t.Fatalf("kind %s mta %s id %q", ev.Kind, ev.MTA, ev.QueueID)
			}
			if !ev.Time.Equal(tt.want) {
				t.Errorf("time %v, want %v", ev.Time, tt.want)
			}
			if ev.Recipient != "bob@example.org" || ev.Relay.Addr != "192.0.2.7" || ev.Reply.Code != 250 || ev.Reply.RemoteID != "1ZpCCD-0002J4-Ej" {
				t.Errorf("to %q relay %q code %d remote id %q", ev.Recipient, ev.Relay.Addr, ev.Reply.Code, ev.Reply.RemoteID)
			}
		})
	}
}

// TestContainerPrefixes: what docker and kubectl write before the lines a
// container logged is taken off; a line of another program stays unknown.
func TestContainerPrefixes(t *testing.T) {
	pf := "Nov 28 07:04:05 mx1 postfix/smtp[123]: 4Xkp2N0KJjz9sR9: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
	ex := "2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd => a@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] C=\"250 OK\""
	stamp := "2026-11-28T09:00:00.123456789Z "
	for _, tt := range []struct {
		name, line string
		mta        MTA
	}{
		{"compose", "mailserver-1  | " + pf, Postfix},
		{"compose v1", "mail_server_1 | " + pf, Postfix},
		{"compose -t", "mailserver-1  | " + stamp + pf, Postfix},
		{"compose exim", "exim.mx-1  | " + ex, Exim},
		{"docker logs -t", stamp + pf, Postfix},
		{"docker logs -t exim", stamp + ex, Exim},
		{"kubectl --prefix", "[pod/mailserver-0/mailserver] " + pf, Postfix},
		{"kubectl --prefix --timestamps", "[pod/mailserver-0/mailserver] " + stamp + pf, Postfix},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestParser().Parse(tt.line)
			if ev.Kind != KindDelivery || ev.MTA != tt.mta || ev.Recipient != "a@example.com" || ev.Reply.Code != 250 {
				t.Fatalf("kind %s mta %s to %q code %d, want a %s delivery to a@example.com", ev.Kind, ev.MTA, ev.Recipient, ev.Reply.Code, tt.mta)
			}
			// The line's own time, not the one docker or kubectl added.
			if want := time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC); !ev.Time.Equal(want) {
				t.Errorf("time %v, want %v", ev.Time, want)
			}
		})
	}
	for _, line := range []string{
		"mailserver-1  | Nov 28 07:04:05 mx1 dovecot[1]: imap-login: Login: user=<a@example.com>",
		"mailserver-1  | ",
		"mailserver-1  |" + pf,
		"[pod/mailserver-0/mailserver]" + pf,
		stamp,
	} {
		if ev := newTestParser().Parse(line); ev.Kind != KindUnknown || ev.MTA != MTAUnknown {
			t.Errorf("%q: kind %s mta %s, want nothing", line, ev.Kind, ev.MTA)
		}
	}
}

// TestJSONEnvelopes: the journal's JSON export and Docker's json-file
// lines carry a syslog line's parts as fields.
func TestJSONEnvelopes(t *testing.T) {
	msg := "4Xkp2N0KJjz9sR9: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4DRBDj4tP9zdZLM)"
	bytes := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(s[i])))
		}
		return "[" + b.String() + "]"
	}
	tests := []struct {
		name, line string
		want       time.Time
		host       string
		pid        int
	}{
		{"journal", `{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1795849445123456","PRIORITY":"6","SYSLOG_IDENTIFIER":"postfix/smtp","SYSLOG_PID":"123","_PID":"124","_HOSTNAME":"mx1","MESSAGE":"` + msg + `"}`,
			time.UnixMicro(1795849445123456), "mx1", 123},
		{"journal, message as bytes", `{"__REALTIME_TIMESTAMP":"1795849445000000","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"124","_HOSTNAME":"mx1","MESSAGE":` + bytes(msg) + `}`,
			time.UnixMicro(1795849445000000), "mx1", 124},
		{"docker json-file", `{"log":"Nov 28 07:04:05 mx2 postfix/smtp[7]: ` + msg + `\n","stream":"stdout","time":"2026-11-28T07:04:05.1Z"}`,
			time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx2", 7},
		// A container in Berlin (or a host read in the wrong zone): the
		// stamp names neither zone nor year, Docker's time is exact.
		{"docker json-file, container's local time", `{"log":"Nov 28 08:04:05 mx2 postfix/smtp[7]: ` + msg + `\n","stream":"stdout","time":"2026-11-28T07:04:05.3Z"}`,
			time.Date(2026, 11, 28, 7, 4, 5, 0, time.UTC), "mx2", 7},
		{"docker json-file, last year's", `{"log":"Nov 28 07:04:05 mx2 postfix/smtp[7]: ` + msg + `\n","stream":"stdout","time":"2025-11-28T07:04:05.2Z"}`,
			time.Date(2025, 11, 28, 7, 4, 5, 0, time.UTC), "mx2", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestParser().Parse(tt.line)
			if ev.Kind != KindDelivery || ev.MTA != Postfix || ev.Program != "postfix/smtp" {
				t.Fatalf("kind %s mta %s program %q, want a postfix/smtp delivery", ev.Kind, ev.MTA, ev.Program)
			}
			if !ev.Time.Equal(tt.want) || ev.Host != tt.host || ev.PID != tt.pid {
				t.Errorf("time %v host %q pid %d, want %v %q %d", ev.Time, ev.Host, ev.PID, tt.want, tt.host, tt.pid)
			}
			if ev.Recipient != "a@example.com" || ev.Reply.RemoteID != "4DRBDj4tP9zdZLM" {
				t.Errorf("to %q remote id %q", ev.Recipient, ev.Reply.RemoteID)
			}
		})
	}
	for _, line := range []string{
		`{"__REALTIME_TIMESTAMP":"1795849445000000","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"Accepted publickey for root"}`,
		`{"SYSLOG_IDENTIFIER":"postfix/smtp","MESSAGE":"` + msg + `"}`, // no time
		`{"MESSAGE":"` + msg + `"}`,
		`{"log":"{\"log\":\"x\"}"}`,
		`{"MESSAGE": [1, 2, 300], "SYSLOG_IDENTIFIER": "postfix/smtp"}`,
		`{not json at all, but long enough}`,
		`{"SYSLOG_IDENTIFIER":"postfix/smtp","MESSAGE":[[["nested"]]]}`,
		`{"SYSLOG_IDENTIFIER":"postfix/smtp","MESSAGE":` + strings.Repeat("[", 5000) + `"x"` + strings.Repeat("]", 5000) + `}`,
	} {
		if ev := newTestParser().Parse(line); ev.Kind != KindUnknown {
			t.Errorf("%s: kind %s, want unknown", line, ev.Kind)
		}
	}
}

// TestLines checks single real lines field by field.
func TestLines(t *testing.T) {
	tests := []struct {
		line  string
		check func(t *testing.T, ev Event)
	}{
		{`Sep 25 18:26:36 smtpnode16 postfix-239.58.50.50/smtp[5084]: 23EBE3D5C0: to=<h-664d01@h-695da2287.com>, relay=ALT2.ASPMX.L.GOOGLE.com[3.155.237.60]:25, delay=2, delays=0.18/0/1.6/0.19, dsn=4.1.1, status=deferred (host ALT2.ASPMX.L.GOOGLE.com[3.155.237.60] said: 452 4.1.1 <h-664d01@h-695da2287.com> user is over quota, please try again later (in reply to RCPT TO command))`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Deferred && ev.Reply.Code == 452 && ev.Reply.Enhanced.String() == "4.1.1" &&
					ev.Reply.Stage == "RCPT TO" && ev.Reply.RemoteHost == "ALT2.ASPMX.L.GOOGLE.com" && ev.Reply.RemoteAddr == "3.155.237.60" &&
					strings.HasPrefix(ev.Reply.Text, "<h-664d01@h-695da2287.com> user is over quota"), ev)
			}},
		{`Jul 24 04:38:17 mail postfix/smtp[30582]: 4E74613FE76: to=<redacted@gmail.com>, relay=gmail-smtp-in.l.google.com[2607:f8b0:400e:c04::1b]:25, delay=1.9, delays=0.05/0/1.1/0.71, dsn=5.7.1, status=bounced (host gmail-smtp-in.l.google.com[2607:f8b0:400e:c04::1b] said: 550-5.7.1 [2607:4100:3:25:100::2      12] Our system has detected that this 550-5.7.1 message is likely unsolicited mail. qc12si8475009pab.211 - gsmtp (in reply to end of DATA command))`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Bounced && ev.Reply.Code == 550 && ev.Reply.Enhanced.String() == "5.7.1" && ev.Reply.Stage == "end of DATA" &&
					ev.Relay.Addr == "2607:f8b0:400e:c04::1b" && ev.Relay.Port == 25, ev)
			}},
		{`Dec  9 10:18:28 mail postfix/smtp[20049]: BABABABABA: to=<dst2@dst2.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.38, delays=0.23/0.02/0/0.13, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as CACACACACACA)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Hop && ev.NextQueueID == "CACACACACACA" && ev.QueueID == "BABABABABA", ev)
			}},
		// header_checks and body_checks: the reply comes after the fields.
		{`Jun 27 21:39:43 localhost postfix/cleanup[2712]: 906F418067A: reject: header Subject: Yusuf from mail-yb1-f174.google.com[209.85.219.174]; from=<testmaili34@gmail.com> to=<ugur@ugurcomptech.com.tr> proto=ESMTP helo=<mail-yb1-f174.google.com>: 5.7.1 message content rejected`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.RejectStage == "header" && ev.Reply.Enhanced.String() == "5.7.1" &&
					ev.Reply.Text == "message content rejected" && ev.Reason == ReasonSpamDetected &&
					ev.Client.Addr == "209.85.219.174" && ev.Sender == "testmaili34@gmail.com" && ev.Recipient == "ugur@ugurcomptech.com.tr" &&
					ev.Protocol == "ESMTP", ev)
			}},
		{`Oct  6 12:00:00 host postfix/cleanup[1]: 4AB1C2D3E4: reject: body buy now from client.example.org[192.0.2.9]; from=<a@example.org> to=<x@example.net> proto=ESMTP: 5.7.1 no thanks`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.RejectStage == "body" && ev.Reply.Text == "no thanks" &&
					ev.Client.Name == "client.example.org" && ev.Recipient == "x@example.net" && ev.Protocol == "ESMTP", ev)
			}},
		{`Sep 30 20:46:08 smtpnode16 postfix-239.58.50.50/qmgr[31214]: 23EBE3D5C0: from=<h-498b874f2bf0cf639807ad80e1@h-5e67b9b4406.com>, status=expired, returned to sender`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindExpired && ev.Outcome == Expired && ev.Sender == "h-498b874f2bf0cf639807ad80e1@h-5e67b9b4406.com", ev)
			}},
		{`Apr 10 14:50:16 mail postfix/qmgr[3663]: BACE842E73: from=<noreply@domain.com>, status=force-expired, returned to sender`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindExpired && ev.Status == "force-expired", ev) }},
		{`Jan 28 06:40:37 mail postfix/qmgr[1789]: 8BD903012026: from=<h-2c4a691bf4126f@h-51363726f1.com>, size=5652, nrcpt=1 (queue active)`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindArrival && ev.Size == 5652 && ev.NRcpt == 1, ev) }},
		{`Jan 28 06:40:37 mail postfix/qmgr[1789]: 8BD903012026: from=<>, size=3503, nrcpt=1 (queue active)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Sender == "" && ev.Size == 3503, ev)
			}},
		{`Jan 28 06:40:37 mail postfix/qmgr[1789]: 8BD903012026: from=<Print Connections>, size=10, nrcpt=2 (queue active)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Sender == "Print Connections" && ev.NRcpt == 2, ev)
			}},
		{`Jan 28 06:40:37 mail postfix/cleanup[15069]: 8BD903012026: message-id=<h-e13b9e@h-de82e022d99.com>`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindMessageID && ev.MessageID == "h-e13b9e@h-de82e022d99.com", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtpd[15061]: 8BD903012026: client=h-2bf83754162e1[224.73.110.132], sasl_method=PLAIN, sasl_username=u`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindClient && ev.Client.Name == "h-2bf83754162e1" && ev.Client.Addr == "224.73.110.132", ev)
			}},
		{`Dec 29 03:03:48 mail postfix/bounce[9321]: 732BB407C3: sender non-delivery notification: 5DE184083C`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindBounceNotice && ev.NextQueueID == "5DE184083C", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/postscreen[15198]: NOQUEUE: reject: RCPT from [155.63.95.207]:64679: 550 5.7.1 Service unavailable; client [155.63.95.207] blocked using zen.spamhaus.org; from=<a@b.com>, to=<c@d.com>, proto=ESMTP, helo=<WIN-QGFO>`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.QueueID == "NOQUEUE" && ev.RejectStage == "RCPT" && ev.Recipient == "c@d.com" &&
					ev.Sender == "a@b.com" && ev.Reply.Code == 550 && ev.Client.Addr == "155.63.95.207" && ev.Protocol == "ESMTP", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtpd[1574]: NOQUEUE: reject: RCPT from badguy.example.com[93.184.216.34]: 454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34; from=<spammer@example.com> to=<goodguy@example.com> proto=ESMTP helo=<badguy.example.com>`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.Recipient == "goodguy@example.com" && ev.Reply.Code == 454 &&
					strings.HasSuffix(ev.Reply.Text, "query?ip=93.184.216.34"), ev)
			}},
		{`Jan 28 06:40:37 mail postfix/cleanup[9060]: 769FF2E0760: milter-reject: END-OF-MESSAGE from h-72f[117.165.155.187]: 5.7.1 Spam message rejected; from=<a@b.com> to=<c@d.com> proto=ESMTP helo=<h>`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.RejectStage == "END-OF-MESSAGE" && ev.Reply.Enhanced.String() == "5.7.1" && ev.Reply.Code == 0, ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, orig_to=<x@y.example>, relay=none, delay=0.1, delays=0/0/0/0, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=b.example type=MX: Host not found, try again)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Deferred && ev.OrigRecipient == "x@y.example" && ev.Relay.Name == "none" && ev.Reply.Enhanced.String() == "4.4.3", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx.b.example[192.0.2.9]:25, conn_use=2, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Delivered && ev.ConnUse == 2 && ev.NextQueueID == "9F8E7D", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/lmtp[1]: 1A2B3C4D5E: to=<u@local.example>, relay=mail.local[/var/run/dovecot/lmtp], delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 <u@local.example> 3Nw9LLrgaF+hPgAA9Bt4Rw Saved)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Delivered && ev.Relay.Addr == "/var/run/dovecot/lmtp" && ev.Reply.RemoteID == "3Nw9LLrgaF+hPgAA9Bt4Rw", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=none, delay=0.1, delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to mx.b.example[192.0.2.9]:25: Connection refused)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Reply.Stage == "CONNECT" && ev.Reply.RemoteHost == "mx.b.example" && ev.Reply.RemoteAddr == "192.0.2.9", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=none, delay=0.1, delays=0/0/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)`,
			func(t *testing.T, ev Event) {
				want(t, ev.Reply.Stage == "RCPT TO" && ev.Reply.RemoteHost == "mta7.am0.yahoodns.net", ev)
			}},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx[192.0.2.1]:25, delay=0.1, delays=0/0/0/0, dsn=5.0.0, status=bounced (host mx[192.0.2.1] refused to talk to me: 554 mx ESMTP not accepting messages)`,
			func(t *testing.T, ev Event) { want(t, ev.Reply.Stage == "CONNECT" && ev.Reply.Code == 554, ev) }},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx[192.0.2.1]:25, delay=0.1, delays=0/0/0/0, dsn=4.7.5, status=SOFTBOUNCE (host mx[192.0.2.1] said: 550 5.1.1 no (in reply to RCPT TO command))`,
			func(t *testing.T, ev Event) { want(t, ev.Outcome == Deferred, ev) }},
		{`Jan 28 06:40:37 mail postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx[192.0.2.1]:25, delay=0.1, delays=0/0/0/0, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindOther, ev) }},
		{`Jan 28 06:40:37 mail postfix/local[1]: 1A2B3C4D5E: to=<tom@example.com>, relay=local, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (forwarded as 5DE184083C)`,
			func(t *testing.T, ev Event) { want(t, ev.Outcome == Delivered && ev.NextQueueID == "5DE184083C", ev) }},
		{`Jan 28 06:40:37 mail postfix/smtpd[1]: warning: hostname x does not resolve to address 1.2.3.4`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindWarning, ev) }},
		{`Mar 16 12:28:02 123-mail postfix/smtpd[16268]: fatal: file /etc/postfix/main.cf: parameter default_privs: unknown user name value: nobody`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindFatal, ev) }},
		{`2020-06-24 00:20:20 1raAV4-009jr4-9x == jack@test.corp R=dnslookup T=remote_smtp defer (-44) H=(relay.test.corp) [4.4.4.4]: SMTP error from remote mail server after RCPT TO:<jack@test.corp>: 450 4.7.1 <jack@test.corp>: Recipient address rejected: Recipient not available`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Deferred && ev.Reply.Code == 450 && ev.Reply.Stage == "RCPT TO" && ev.Relay.Addr == "4.4.4.4" && ev.Router == "dnslookup", ev)
			}},
		{`2020-06-19 04:54:02 1jmFYj-00039V-QX ** bob@null.corp: retry timeout exceeded`,
			func(t *testing.T, ev Event) { want(t, ev.Outcome == Expired && ev.Recipient == "bob@null.corp", ev) }},
		{`2020-02-22 01:41:08 1j4ZTB-0001Sv-P4 ** noreply@pilgrimbrevet.se: Unrouteable address`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Bounced && ev.Reply.Text == "Unrouteable address", ev)
			}},
		{`1999-03-02 09:44:33 10HmaX-0005vi-00 ** a@test.ex : Unrouteable address`,
			func(t *testing.T, ev Event) { want(t, ev.Outcome == Bounced && ev.Recipient == "a@test.ex", ev) }},
		{`2020-02-22 07:09:24 1j5NyY-0004Xp-NZ ** ronnie@yahoo.com R=dnslookup T=remote_smtp: SMTP error from remote mail server after end of data: host mta5.am0.yahoodns.net [67.195.204.72]: 554 delivery error: dd This user doesn't have a yahoo.com account`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Bounced && ev.Reply.Code == 554 && ev.Reply.RemoteHost == "mta5.am0.yahoodns.net" && ev.Reply.Stage == "end of DATA", ev)
			}},
		{`1999-03-02 09:44:33 10HmaX-0005vi-00 => :blackhole: <bh@test.ex> R=blackhole_router`,
			func(t *testing.T, ev Event) { want(t, ev.Outcome == Delivered && ev.Recipient == "bh@test.ex", ev) }},
		{`1999-03-02 09:44:33 10HmaX-0005vi-00 => userx <userx@test.ex> R=localuser T=local_delivery`,
			func(t *testing.T, ev Event) {
				want(t, ev.Recipient == "userx@test.ex" && ev.Transport == "local_delivery", ev)
			}},
		{`1999-03-02 09:44:33 10HmaX-0005vi-00 => |/bin/cat <pipe@test.ex> R=r T=address_pipe`,
			func(t *testing.T, ev Event) { want(t, ev.Recipient == "pipe@test.ex", ev) }},
		{`1999-03-02 09:44:33 10HmaX-0005vi-00 <= CALLER@test.ex U=CALLER P=local S=sss`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Size == -1 && ev.Sender == "CALLER@test.ex", ev)
			}},
		{`2026-11-28 07:04:05 1pXyZ1-0001Ab-Cd ** x@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.1.27] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: SMTP error from remote mail server after RCPT TO:<x@gmail.com>: 550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Bounced && ev.Reply.Code == 550 && ev.Reply.Enhanced.String() == "5.1.1" && ev.Relay.Name == "gmail-smtp-in.l.google.com", ev)
			}},
		{`2020-02-22 00:48:43 H=([185.143.223.163]) [185.143.223.168] F=<fhl@mirdif.com> rejected RCPT <explain@dissonantia.se>: Unrouteable address`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindReject && ev.Recipient == "explain@dissonantia.se" && ev.Sender == "fhl@mirdif.com" && ev.Client.Addr == "185.143.223.168", ev)
			}},
		{`2020-02-22 00:48:43 [123] H=(yakult.com.tw) [1.2.3.4]:1234 I=[5.6.7.8]:25 F=menaced@listserv.eurasia.org rejected RCPT dir@ml1.ru: relay not permitted`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindReject && ev.Recipient == "dir@ml1.ru", ev) }},
		// log_selector +all: flags without a value ("K") between the fields.
		{`2026-11-28 07:04:06.456 +0100 [1235] 1pXyZ1-0001Ab-Cd => bob@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.1.27]:25 I=[192.0.2.1] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes DN="CN=mx.google.com" K C="250 2.0.0 OK  1700000000 x12si123 - gsmtp" QT=1.333s DT=0.845s`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Delivered && ev.Reply.Code == 250 && ev.Reply.RemoteID == "x12si123" && ev.Relay.Port == 25, ev)
			}},
		// log_selector +received_recipients: " for rcpt ..." ends the line,
		// after the Message-ID, which must not take it in.
		{`2026-11-29 01:26:21 1xXTgL-0001Sj-0X <= dsnbox+c0001@bounces.example H=(edge.mailbounce.test) [127.0.0.1] P=esmtp S=5438 id=c0001@chain.mailbounce.test for temp452-c0001-1@full.example b@x.example`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Size == 5438 && ev.MessageID == "c0001@chain.mailbounce.test", ev)
			}},
		{`2026-11-29 01:26:21 1xXTgL-0001Sj-0X <= a@b.example H=(x) [192.0.2.1] P=esmtp S=100 T="Offers for you" for c@d.example`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Size == 100 && ev.Client.Addr == "192.0.2.1", ev)
			}},
		// Exim 4.97 +connection_id and a Message-ID Exim made up (id*=).
		{`2026-11-28 07:04:05 1rKo4K-00000000Xkp-2abc <= a@b.example H=(x) [192.0.2.1] Ci=4711 P=esmtp S=100 id*=E1rKo4K-00000000Xkp-2abc@mx.example`,
			func(t *testing.T, ev Event) {
				want(t, ev.Kind == KindArrival && ev.Size == 100 && ev.MessageID == "E1rKo4K-00000000Xkp-2abc@mx.example", ev)
			}},
		{`2026-11-28 23:31:30 1xXRt8-0000BA-2m ** nouser-e0085-2@nouser.example R=sink T=sink_main H=127.0.0.1 [127.0.0.1]:2601: SMTP error from remote mail server after RCPT TO:<nouser-e0085-2@nouser.example>: 550 5.1.1 <nouser-e0085-2@nouser.example>: Recipient address rejected: User unknown in virtual mailbox table DT=0s`,
			func(t *testing.T, ev Event) {
				want(t, ev.Outcome == Bounced && strings.HasSuffix(ev.Reply.Text, "virtual mailbox table"), ev)
			}},
		{`2020-06-19 04:54:02 1jmFYj-00039V-QX Completed`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindRemoved, ev) }},
		{`2020-06-19 04:54:02 1jmFYj-00039V-QX Frozen (delivery error message)`,
			func(t *testing.T, ev Event) { want(t, ev.Kind == KindFrozen, ev) }},
	}
	for _, tt := range tests {
		ev := newTestParser().Parse(tt.line)
		t.Run(ev.Kind.String(), func(t *testing.T) { tt.check(t, ev) })
	}
}

func want(t *testing.T, ok bool, ev Event) {
	t.Helper()
	if !ok {
		t.Errorf("unexpected event: %s", render(&ev))
	}
}

// TestYearRollover: BSD timestamps carry no year; a log that runs from
// December into January must not put January eleven months back.
func TestYearRollover(t *testing.T) {
	line := func(stamp string) string {
		return stamp + " mx postfix/qmgr[1]: 1A2B3C: removed"
	}
	type stamp struct {
		text string
		year int
	}
	for _, c := range []struct {
		name   string
		opt    Options
		stamps []stamp // in the order of the file
	}{
		// Inferred from the file's modification time in January 2027.
		{"reference", Options{Reference: time.Date(2027, 1, 2, 3, 0, 0, 0, time.UTC)},
			[]stamp{{"Dec 31 23:59:59", 2026}, {"Jan  1 00:00:01", 2027}, {"Jan  2 03:00:00", 2027}}},
		// Read on New Year's Eve: a January line a few seconds ahead
		// (another host's clock, a zone east of ours) is next year's.
		{"New Year's Eve", Options{Reference: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
			[]stamp{{"Jan  1 00:00:03", 2027}, {"Dec 31 23:59:50", 2026}, {"Nov 30 10:00:00", 2026}, {"Jan  2 00:00:03", 2026}}},
		// --year with a December straggler among the first January lines.
		{"--year, straggler first", Options{Year: 2026},
			[]stamp{{"Jan  1 00:00:00", 2026}, {"Dec 31 23:59:59", 2025}, {"Jan  1 00:05:00", 2026}}},
		// --year on a file with a gap of months: no straggler, the same year.
		{"--year, gap", Options{Year: 2025},
			[]stamp{{"Jan 10 00:00:00", 2025}, {"Aug 20 10:00:00", 2025}, {"Aug 21 10:00:00", 2025}}},
		// Given with --year: the first line's year, plus one at the rollover.
		{"--year", Options{Year: 2026},
			[]stamp{{"Dec 30 10:00:00", 2026}, {"Dec 31 23:59:59", 2026}, {"Jan  1 00:00:01", 2027}, {"Dec 31 23:59:58", 2026}, {"Jan  1 00:00:02", 2027}, {"Feb  1 00:00:02", 2027}}},
	} {
		c.opt.Location = time.UTC
		p := NewParser(c.opt)
		for _, st := range c.stamps {
			if got := p.Parse(line(st.text)).Time.Year(); got != st.year {
				t.Errorf("%s: %s -> %d, want %d", c.name, st.text, got, st.year)
			}
		}
	}
}

func TestParseEnhanced(t *testing.T) {
	for in, want := range map[string]string{
		"5.1.1": "5.1.1", "4.7.650 x": "4.7.650", "2.0.0,": "2.0.0", "5.7.26:": "5.7.26",
		"5.1": "", "3.1.1 x": "", "5.1.1.1": "", "5.1234.1": "", "5.1.1x": "", "": "",
	} {
		e, _ := ParseEnhanced(in)
		if e.String() != want {
			t.Errorf("ParseEnhanced(%q) = %q, want %q", in, e, want)
		}
	}
}

// TestRealForms: forms seen in real logs published by others (boky/postfix's
// container, a Sophos UTM's syslog, Exim with SRS and cutthrough delivery,
// postsuper, a before-queue filter), addresses replaced.
func TestRealForms(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		kind       Kind
		mta        MTA
		outcome    Outcome
		qid, rcpt  string
		check      func(t *testing.T, ev Event)
	}{
		{"boky/postfix container", "2025-07-31T01:01:53.376231+00:00 INFO    postfix/smtp[1678]: 792AB29DF6: to=<test@example.com>, relay=none, delay=404, delays=397/0.07/7.1/0, dsn=4.3.5, status=deferred (Host or domain name not found. Name service error for name=mailhog type=AAAA: Host not found)",
			KindDelivery, Postfix, Deferred, "792AB29DF6", "test@example.com", func(t *testing.T, ev Event) {
				if ev.Host != "" || ev.PID != 1678 || !ev.Time.Equal(time.Date(2025, 7, 31, 1, 1, 53, 376231000, time.UTC)) {
					t.Errorf("host %q pid %d time %v", ev.Host, ev.PID, ev.Time)
				}
			}},
		{"sophos utm", "2011:03:08-10:29:44 mx3 exim[11721]: 2011-03-08 10:29:44 1Pwzn4-000333-1Y <= a@example.com H=(mail.example.com) [192.0.2.3]:7664 P=esmtp S=584817 id=2153D402F60E@example.local",
			KindArrival, Exim, 0, "1Pwzn4-000333-1Y", "", func(t *testing.T, ev Event) {
				if ev.Host != "mx3" || ev.Sender != "a@example.com" || !ev.Time.Equal(time.Date(2011, 3, 8, 10, 29, 44, 0, time.UTC)) {
					t.Errorf("host %q sender %q time %v", ev.Host, ev.Sender, ev.Time)
				}
			}},
		// A real Postfix 3.7 (this project's scripts/mta run with
		// header_checks REJECT): a message submitted with sendmail is
		// bounced by cleanup, a status=bounced line per recipient; its
		// "reject:" refused no client.
		{"cleanup reject from local", "Nov 29 13:59:00 postfix postfix/cleanup[11220]: 4jcpfX1qQRz5kg6: reject: header Subject: mailbounce test message h2 from local; from=<dsnbox+h2@bounces.example> to=<ok-h2-2@nouser.example>: 5.7.1 no thanks",
			KindOther, Postfix, OutcomeNone, "4jcpfX1qQRz5kg6", "ok-h2-2@nouser.example", nil},
		{"cleanup bounce after a reject from local", "Nov 29 13:59:00 postfix postfix/cleanup[11220]: 4jcpfX1qQRz5kg6: to=<ok-h2-1@ok.example>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.7.1, status=bounced (no thanks)",
			KindDelivery, Postfix, Bounced, "4jcpfX1qQRz5kg6", "ok-h2-1@ok.example", nil},
		{"cleanup reject from a client", "Nov 29 13:59:00 postfix postfix/cleanup[11220]: 4jcpfX1qQRz5kg7: reject: header Subject: mailbounce test message h3 from localhost[127.0.0.1]; from=<dsnbox+h3@bounces.example> to=<ok-h3-2@nouser.example> proto=ESMTP helo=<localhost>: 5.7.1 no thanks",
			KindReject, Postfix, Rejected, "4jcpfX1qQRz5kg7", "ok-h3-2@nouser.example", nil},
		// A real Exim 4.96 whose system filter saves a copy of every
		// message: not a recipient.
		{"exim system filter save", "2026-11-29 14:35:15 1xXfze-0004iB-1Q => /var/tmp/mb-q2/work/sfsave/mail/sfarchive <system-filter> T=address_file S=3527 DT=0s",
			KindOther, Exim, OutcomeNone, "1xXfze-0004iB-1Q", "", nil},
		{"exim system filter deliver", "2026-11-29 14:35:23 1xXfzd-0004g4-0U => archive <system-filter> R=archive_user T=archive_file S=4275 DT=0s",
			KindOther, Exim, OutcomeNone, "1xXfzd-0004g4-0U", "", nil},
		// Exim through syslog: a reject log entry's header lines come as
		// numbered pieces after the first.
		{"exim syslog piece", `Nov 29 14:13:52 vm exim[5873]: [2\23] Envelope-from: <dsnbox+s0003@bounces.example>`,
			KindOther, Exim, OutcomeNone, "", "", nil},
		{"exim syslog last piece", `Nov 29 14:13:52 vm exim[5873]: [23/23] T To: ok-s0003-1@yahoo-mail.example`,
			KindOther, Exim, OutcomeNone, "", "", nil},
		{"exim syslog first piece", `Nov 29 14:13:52 vm exim[5873]: [1\23] 2026-11-29 14:13:52.615 [5873] 1xXff6-0001Wj-1y H=(localhost) [127.0.0.1]:41678 I=[127.0.0.1]:2725 F=<dsnbox+s0003@bounces.example> rejected after DATA: message content rejected`,
			KindReject, Exim, Rejected, "1xXff6-0001Wj-1y", "", func(t *testing.T, ev Event) {
				if ev.PID != 5873 || ev.Time.Nanosecond() != 615e6 || ev.Sender != "dsnbox+s0003@bounces.example" {
					t.Errorf("pid %d time %v sender %q", ev.PID, ev.Time, ev.Sender)
				}
			}},
		{"exim SRS", `2021-05-04 13:37:00 +0100 1hEsVV-006q9f-M2 => mail@example.net <foo@example.org> SRS=<SRS0=MQyYEB=SO=example.org=foo@example.org> R=tls_lookuphost T=tls_remote_smtp H=mail.example.com [192.0.2.1] X=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes A=fixed_cram K C="250- 1319 byte chunk, total 1319\n250 OK id=1hEsVX-0004tM-38"`,
			KindDelivery, Exim, Delivered, "1hEsVV-006q9f-M2", "mail@example.net", func(t *testing.T, ev Event) {
				if ev.Router != "tls_lookuphost" || ev.Relay.Addr != "192.0.2.1" || ev.Reply.Code != 250 || ev.Reply.RemoteID != "1hEsVX-0004tM-38" {
					t.Errorf("router %q relay %q code %d remote id %q", ev.Router, ev.Relay.Addr, ev.Reply.Code, ev.Reply.RemoteID)
				}
			}},
		{"exim two spaces", `2021-05-04 13:37:00 +0100 1gtTXl-009NOy-Ft ->  foo@example.net <" foo.bar"@example.org> R=dkim_lookuphost T=dkim_remote_smtp H=mail.example.com [192.0.2.1] K C="250 OK id=1gtTZ9-0003pq-QN"`,
			KindDelivery, Exim, Delivered, "1gtTXl-009NOy-Ft", "foo@example.net", nil},
		// log_selector +all_parents (on every cPanel server): the addresses
		// a forwarder went through, before the topmost one.
		{"exim +all_parents deferral", `2026-08-11 00:30:18 1wtMbN-00000004FD2-1H7i == fwd@gmail.example (info@example.gr) <info@example.gr> R=dkim_lookuphost T=dkim_remote_forwarded_smtp defer (-46) H=alt3.gmail-smtp-in.l.google.com [192.0.2.26]: SMTP error from remote mail server after end of data: 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail.`,
			KindDelivery, Exim, Deferred, "1wtMbN-00000004FD2-1H7i", "fwd@gmail.example", func(t *testing.T, ev Event) {
				if ev.OrigRecipient != "info@example.gr" || ev.Reply.Code != 421 || ev.Relay.Addr != "192.0.2.26" || ev.Transport != "dkim_remote_forwarded_smtp" {
					t.Errorf("orig %q code %d relay %q transport %q", ev.OrigRecipient, ev.Reply.Code, ev.Relay.Addr, ev.Transport)
				}
			}},
		{"exim +all_parents local", "2011-10-26 08:20:54 [4478] 1RJ3Pa-0001AA-HC => nick (nick@example.net, nick@example.org, nick@example.org) <nick@example.org> F=<cow@example.org> P=<cow@example.org> R=boxtrapper_autowhitelist T=boxtrapper_autowhitelist S=860 QT=0s DT=0s",
			KindDelivery, Exim, Delivered, "1RJ3Pa-0001AA-HC", "nick@example.org", func(t *testing.T, ev Event) {
				if ev.Router != "boxtrapper_autowhitelist" || ev.Sender != "cow@example.org" {
					t.Errorf("router %q sender %q", ev.Router, ev.Sender)
				}
			}},
		{"exim +all_parents, quoted parents", `2017-01-24 16:14:03 1cW9Lm-0004Tz-TD => p.s+01 - test vm ("p.s+01 - Test VM"@example.net, p.s@example.net) <p.s@example.net> SRS=<SRS0=zTt2S=ZG=example.to=c@example.net> R=virtual_user T=dovecot_virtual_delivery C="250 2.0.0 <p.s+01 - Test VM@example.net> 4T9TCqvRh1h3OAAA6kPjFA Saved"`,
			KindDelivery, Exim, Delivered, "1cW9Lm-0004Tz-TD", "p.s@example.net", func(t *testing.T, ev Event) {
				if ev.Transport != "dovecot_virtual_delivery" || ev.Reply.Code != 250 {
					t.Errorf("transport %q code %d", ev.Transport, ev.Reply.Code)
				}
			}},
		{"exim pipe with arguments and parents", "2026-08-11 01:35:09 1wtYaK-0000000GRSy-2tQh => sales+spam |/usr/local/cpanel/bin/autorespond sales@example.eu /home2/a/.autorespond (sales@example.eu) <sales@example.eu> R=virtual_aliases_nostar T=cagefs_virtual_address_pipe",
			KindDelivery, Exim, Delivered, "1wtYaK-0000000GRSy-2tQh", "sales@example.eu", func(t *testing.T, ev Event) {
				if ev.Transport != "cagefs_virtual_address_pipe" {
					t.Errorf("transport %q", ev.Transport)
				}
			}},
		{"exim pipe with arguments", "2020-02-10 10:00:00 1j17Xx-0003Aa-Bb => |/home/a/run-with-path /var/www/a/script/mailin <foi@example.org> R=userforward T=address_pipe",
			KindDelivery, Exim, Delivered, "1j17Xx-0003Aa-Bb", "foi@example.org", func(t *testing.T, ev Event) {
				if ev.Router != "userforward" {
					t.Errorf("router %q", ev.Router)
				}
			}},
		{"exim filter save with a space", "1999-03-02 09:44:33 10HmbB-0005vi-00 ** save userx-extra <restrict-userx@test.ex> R=r1 T=t1 : delivery to file forbidden",
			KindDelivery, Exim, Bounced, "10HmbB-0005vi-00", "restrict-userx@test.ex", func(t *testing.T, ev Event) {
				if ev.Reply.Raw != "delivery to file forbidden" {
					t.Errorf("text %q", ev.Reply.Raw)
				}
			}},
		{"exim local name before a deferral's text", "1999-03-02 09:44:33 10HmbB-0005vi-00 == nick routing defer (-51): lookup of host failed",
			KindDelivery, Exim, Deferred, "10HmbB-0005vi-00", "nick", nil},
		{"exim autoreply", "2013-05-02 06:25:01 1UXnW9-0001Sd-Qk => >s@example.com <u@example.org> R=userforward T=address_reply",
			KindOther, Exim, Delivered, "1UXnW9-0001Sd-Qk", "", nil},
		{"exim before 4.88: the host in the text", "2016-06-03 11:03:18 [13879] 1b8lwj-0003bo-6W == a@example.com R=dnslookup T=remote_smtp defer (-44): SMTP error from remote mail server after RCPT TO:<a@example.com>: host eu-smtp-inbound-1.example.com [192.0.2.211]: 451 Internal resource temporarily unavailable",
			KindDelivery, Exim, Deferred, "1b8lwj-0003bo-6W", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Relay.Addr != "192.0.2.211" || ev.Relay.Name != "eu-smtp-inbound-1.example.com" || ev.Reply.Code != 451 {
					t.Errorf("relay %+v code %d", ev.Relay, ev.Reply.Code)
				}
			}},
		{"exim remote host closed connection", "2011-09-24 07:41:17 1R7DXr-0006vV-Pa == a@example.com R=dnslookup T=remote_smtp defer (-18): Remote host host117.example.com [192.0.2.119] closed connection in response to end of data",
			KindDelivery, Exim, Deferred, "1R7DXr-0006vV-Pa", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Relay.Addr != "192.0.2.119" || ev.Reply.Stage != "end of DATA" || ev.Reason != ReasonNetworkError {
					t.Errorf("relay %+v stage %q reason %s", ev.Relay, ev.Reply.Stage, ev.Reason)
				}
			}},
		{"exim transport option that would not expand", `2021-11-03 09:30:31 1miCbH-0005ab-IU == a@example.org <t@example.org> R=localuser T=local_delivery defer (-1): Malformed value "0MM" (expansion of "${extract{6}...}M") in local_delivery transport`,
			KindDelivery, Exim, Deferred, "1miCbH-0005ab-IU", "a@example.org", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSystemError {
					t.Errorf("reason %s: our configuration, not the message", ev.Reason)
				}
			}},
		{"postfix greeting refused", "Jul 10 10:00:00 mx postfix/smtp[1]: 1A2B3C4D5E: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/1/0, dsn=4.0.0, status=deferred (host mx.example.org[192.0.2.1] refused to talk to me: 450 Server configuration problem)",
			KindDelivery, Postfix, Deferred, "1A2B3C4D5E", "a@example.org", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSystemError || ev.Reply.Stage != "CONNECT" {
					t.Errorf("reason %s stage %q: Postfix's words, not a block", ev.Reason, ev.Reply.Stage)
				}
			}},
		{"policyd-spf (perl)", "Jul 10 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from node.example.com[192.0.2.23]: 550 5.7.1 <a@example.org>: Recipient address rejected: Please see http://www.openspf.net/Why?s=mfrom;id=b%40example.com;ip=192.0.2.23;r=a@example.org; from=<b@example.com> to=<a@example.org> proto=ESMTP helo=<node.example.com>",
			KindReject, Postfix, Rejected, "NOQUEUE", "a@example.org", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSPFFailure {
					t.Errorf("reason %s", ev.Reason)
				}
			}},
		{"exim relaying not allowed", "2013-01-05 18:51:22 1TrXtn-0003N5-Ot ** a@example.ac.uk R=smarthost T=remote_smtp_smarthost: SMTP error from remote mail server after RCPT TO:<a@example.ac.uk>: host smtp.example.net [192.0.2.8]: 550 relaying mail to example.ac.uk is not allowed",
			KindDelivery, Exim, Bounced, "1TrXtn-0003N5-Ot", "a@example.ac.uk", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonRelayDenied || ev.Relay.Addr != "192.0.2.8" {
					t.Errorf("reason %s relay %+v", ev.Reason, ev.Relay)
				}
			}},
		{"amavis bounced it", "Mar  3 10:00:00 mx postfix/smtp-amavis/smtp[2259669]: 27937120C92: to=<a@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0/1.1, dsn=2.5.0, status=sent (250 2.5.0 Ok, id=2243374-09, BOUNCE)",
			KindDelivery, Postfix, Bounced, "27937120C92", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSpamDetected {
					t.Errorf("reason %s", ev.Reason)
				}
			}},
		{"rsyslog's repeated message", "Nov 28 10:00:05 mx postfix/smtpd[123]: message repeated 2 times: [ NOQUEUE: reject: RCPT from unknown[192.0.2.5]: 450 4.7.1 <a@example.com>: Recipient address rejected: Greylisted; from=<s@example.net> to=<a@example.com> proto=ESMTP helo=<x>]",
			KindReject, Postfix, Rejected, "NOQUEUE", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Repeat != 1 || ev.Reason != ReasonGreylisted {
					t.Errorf("repeat %d reason %s: the line stands for two", ev.Repeat, ev.Reason)
				}
			}},
		{"exim ACL discard", "1999-03-02 09:44:33 10HmaY-0005vi-00 => blackhole (DATA ACL discarded recipients)",
			KindOther, Exim, Delivered, "10HmaY-0005vi-00", "", nil},
		{"exim local retry time", "2013-05-02 06:25:01 1UXnW9-0001Sd-Qk == www-data@108 R=local_user T=mail_spool defer (-52): Retry time not yet reached",
			KindOther, Exim, Deferred, "1UXnW9-0001Sd-Qk", "www-data@108", nil},
		{"exim 4.96 -odqs", "1999-03-02 09:44:33 10HmaX-0005vi-00 == userz@domain1 R=others T=smtp defer (0): SMTP delivery explicitly queued",
			KindOther, Exim, Deferred, "10HmaX-0005vi-00", "userz@domain1", nil},
		{"postfix VRFY reject", "Jan 14 10:00:00 mx postfix/smtpd[1234]: NOQUEUE: reject: VRFY from unknown[192.0.2.5]: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table; to=<nobody@example.com> proto=SMTP helo=<me>",
			KindReject, Postfix, Rejected, "NOQUEUE", "nobody@example.com", func(t *testing.T, ev Event) {
				if strings.Contains(ev.Reply.Raw, "to=<") || ev.Reason != ReasonUserUnknown {
					t.Errorf("reason %s text %q", ev.Reason, ev.Reply.Raw)
				}
			}},
		{"milter down", "Sep  7 15:12:53 mx postfix/dkimmilter/smtpd[18107]: NOQUEUE: milter-reject: MAIL from ip6-localhost[::1]: 451 4.7.1 Service unavailable - try again later; from=<a@example.com> proto=ESMTP helo=<localhost>",
			KindReject, Postfix, Rejected, "NOQUEUE", "", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSystemError {
					t.Errorf("reason %s: the milter is down, no user is unknown", ev.Reason)
				}
			}},
		{"before-queue filter's client", "May  4 23:02:52 smtp2 postfix/smtpd[2073198]: NOQUEUE: client=mail.example.com[192.0.2.105]",
			KindOther, Postfix, 0, "NOQUEUE", "", nil},
		{"exim cutthrough", `2026-11-28 07:04:05 1vABCD-000123-AB >> j@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] C="250 OK"`,
			KindDelivery, Exim, Delivered, "1vABCD-000123-AB", "j@example.com", nil},
		{"exim queue_smtp_domains", "2012-02-13 14:59:48 1RwtdC-0000Ac-Dr == a@example.ru R=dnslookup T=remote_smtp defer (-1): domain matches queue_smtp_domains, or -odqs set",
			KindOther, Exim, Deferred, "1RwtdC-0000Ac-Dr", "a@example.ru", nil},
		{"postsuper -d", "Sep  8 07:41:46 csmtp11 postfix/postsuper[100461]: ABDFC400058EC: removed",
			KindRemoved, Postfix, 0, "ABDFC400058EC", "", nil},
		{"postsuper -r", "Jun 24 12:25:22 mx postfix/postsuper[11410]: 27B43742DA: requeued",
			KindOther, Postfix, 0, "27B43742DA", "", nil},
		{"smtp AUTH refused", "Jun 13 00:27:32 mail postfix/smtp[5032]: 71EC23C1439A: to=<a@example.it>, relay=mx3.example.com[192.0.2.72]:25, delay=9, delays=0.14/0.01/8.9/0, dsn=4.0.0, status=deferred (SASL authentication failed; server mx3.example.com[192.0.2.72] said: 501 Cannot decode parameter - too long)",
			KindDelivery, Postfix, Deferred, "71EC23C1439A", "a@example.it", func(t *testing.T, ev Event) {
				if ev.Reply.Code != 501 || ev.Reply.Stage != "AUTH" || ev.Reply.RemoteHost != "mx3.example.com" || ev.Reason != ReasonAuthRequired {
					t.Errorf("code %d stage %q host %q reason %s", ev.Reply.Code, ev.Reply.Stage, ev.Reply.RemoteHost, ev.Reason)
				}
			}},
		{"exim multi-line failure", `2018-07-17 04:41:15 1fdHyN-00061Y-LL == a@example.com R=dnslookup T=remote_smtp defer (-44) H=mx.example.com [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<a@example.com>: 452-4.2.2 The email account that you tried to reach is over quota.\n452 4.2.2 Please direct the recipient to the help page`,
			KindDelivery, Exim, Deferred, "1fdHyN-00061Y-LL", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Reply.Code != 452 || strings.Contains(ev.Reply.Raw, `\n`) || ev.Reason != ReasonMailboxFull {
					t.Errorf("code %d reason %s text %q", ev.Reply.Code, ev.Reason, ev.Reply.Raw)
				}
			}},
		{"syslog without host", "Feb 25 12:11:46 postfix/smtpd[799447]: NOQUEUE: reject: RCPT from out-17.smtp.example.com[192.0.2.200]: 554 5.7.1 Service unavailable; Client host [192.0.2.200] blocked using cbl.abuseat.org; from=<noreply@example.com> to=<mail@example.org> proto=ESMTP",
			KindReject, Postfix, Rejected, "NOQUEUE", "mail@example.org", func(t *testing.T, ev Event) {
				if ev.Host != "" || ev.Program != "postfix/smtpd" || ev.PID != 799447 {
					t.Errorf("host %q program %q pid %d", ev.Host, ev.Program, ev.PID)
				}
			}},
		{"busybox syslogd", "Mar 22 11:31:04 backup mail.info postfix/smtp[1091]: 8DB5E171B: to=<et@example.com>, orig_to=<root@backup.example.com>, relay=10.4.0.1[10.4.0.1]:25, delay=13562, delays=13551/0.02/11/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as A96957B976)",
			KindDelivery, Postfix, Delivered, "8DB5E171B", "et@example.com", func(t *testing.T, ev Event) {
				if ev.Host != "backup" || ev.Program != "postfix/smtp" {
					t.Errorf("host %q program %q", ev.Host, ev.Program)
				}
			}},
		{"journalctl, German month", "Okt 15 23:48:15 c3 postfix/lmtp[48460]: C88761F60D: to=<u1@c3.example.org>, relay=c3.example.org[private/dovecot-lmtp], delay=5.1, delays=2.4/0/0/2.7, dsn=5.2.2, status=bounced (host c3.example.org[private/dovecot-lmtp] said: 552 5.2.2 <u1@c3.example.org> Quota exceeded (mailbox for user is full) (in reply to end of DATA command))",
			KindDelivery, Postfix, Bounced, "C88761F60D", "u1@c3.example.org", func(t *testing.T, ev Event) {
				if ev.Time.Month() != time.October || ev.Time.Day() != 15 {
					t.Errorf("time %v", ev.Time)
				}
			}},
		{"exim MAIL FROM SIZE=", "2013-01-05 18:51:22 1TrXtn-0003N5-Ot == a@example.com R=dnslookup T=remote_smtp defer (-44) H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after MAIL FROM:<s@example.org> SIZE=1409: 451 4.7.1 Try again later",
			KindDelivery, Exim, Deferred, "1TrXtn-0003N5-Ot", "a@example.com", func(t *testing.T, ev Event) {
				if ev.Reason == ReasonMessageTooBig {
					t.Errorf("reason %s: SIZE= names the message's size, not the failure", ev.Reason)
				}
			}},
		{"exim host after the error", "2023-03-24 10:02:24 1pfdJV-004eVE-9X == a@example.dev R=dnslookup T=remote_smtp defer (113): No route to host H=mail.example.dev [192.0.2.93]: mail.example.dev [192.0.2.93]",
			KindDelivery, Exim, Deferred, "1pfdJV-004eVE-9X", "a@example.dev", func(t *testing.T, ev Event) {
				if ev.Relay.Addr != "192.0.2.93" || ev.Relay.Name != "mail.example.dev" {
					t.Errorf("relay %+v", ev.Relay)
				}
			}},
		{"DNSBL through an open resolver", "Oct 31 01:28:43 mail postfix/smtpd[3468]: NOQUEUE: reject: RCPT from mail-lo2gbr01olkn0166.outbound.protection.outlook.com[104.47.21.166]: 554 5.7.1 Service unavailable; Client host [104.47.21.166] blocked using sbl.spamhaus.org; Error: open resolver; https://www.spamhaus.org/returnc/pub/172.69.79.93; from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<EUR03-DB5-obe.outbound.protection.outlook.com>",
			KindReject, Postfix, Rejected, "NOQUEUE", "b@example.org", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonSystemError {
					t.Errorf("reason %s: our resolver is refused, the client is not listed", ev.Reason)
				}
			}},
		{"gmail's block for unsolicited mail", "Feb 11 07:41:39 listy postfix/smtp[3006]: 4424441E46: to=<r@gmail.com>, relay=gmail-smtp-in.l.google.com[66.102.1.27]:25, delay=0.58, delays=0.01/0.01/0.2/0.35, dsn=5.7.1, status=bounced (host gmail-smtp-in.l.google.com[66.102.1.27] said: 550-5.7.1 [192.0.2.183       1] Our system has detected an unusual rate of 550-5.7.1 unsolicited mail originating from your IP address. To protect our 550-5.7.1 users from spam, mail sent from your IP address has been blocked. 550-5.7.1 Please visit 550-5.7.1  https://support.google.com/mail/?p=UnsolicitedIPError to review our 550 5.7.1 Bulk Email Senders Guidelines. q16si3475662wrs.311 - gsmtp (in reply to end of DATA command))",
			KindDelivery, Postfix, Bounced, "4424441E46", "r@gmail.com", func(t *testing.T, ev Event) {
				if ev.Reason != ReasonBadReputation {
					t.Errorf("reason %s", ev.Reason)
				}
			}},
		{"before-queue filter", "Nov 28 07:04:05 mx1 postfix/smtpd[9]: 4ABCD1234: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Rejected by filter; from=<a@example.org> to=<c@example.com> proto=ESMTP helo=<x.example>",
			KindReject, Postfix, Rejected, "4ABCD1234", "c@example.com", func(t *testing.T, ev Event) {
				if ev.RejectStage != "END-OF-MESSAGE" || ev.Reply.Code != 554 || ev.Reply.Enhanced.String() != "5.7.1" || ev.Sender != "a@example.org" {
					t.Errorf("stage %q code %d enhanced %s sender %q", ev.RejectStage, ev.Reply.Code, ev.Reply.Enhanced, ev.Sender)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestParser().Parse(tt.line)
			if ev.Kind != tt.kind || ev.MTA != tt.mta || ev.Outcome != tt.outcome || ev.QueueID != tt.qid || ev.Recipient != tt.rcpt {
				t.Fatalf("kind %s mta %s outcome %s qid %q to %q, want %s %s %s %q %q", ev.Kind, ev.MTA, ev.Outcome, ev.QueueID, ev.Recipient,
					tt.kind, tt.mta, tt.outcome, tt.qid, tt.rcpt)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

// Older Exim names a host that failed on a line of its own, before the
// address's deferral: the deferral gets that host as its relay, and a later
// failure of another message does not.
func TestEximHostLineBefore(t *testing.T) {
	p := NewParser(Options{Location: time.UTC})
	lines := []string{
		"2022-08-15 14:42:23 1oNf2b-0000E6-FQ H=smtp.example.edu [192.0.2.50] Network is unreachable",
		"2022-08-15 14:42:24 1oNf2b-0000E6-FQ == root@a.example.edu R=smarthost T=remote_smtp_smarthost defer (101): Network is unreachable",
		"2022-08-15 14:42:24 1oNf2b-0000E6-FQ == admin@a.example.edu R=smarthost T=remote_smtp_smarthost defer (101): Network is unreachable",
		"2022-08-15 14:43:00 1oNf3c-0000E7-GQ == root@b.example.edu R=smarthost T=remote_smtp_smarthost defer (101): Network is unreachable",
		// Exim 4.96 writes the port; a give-up is not the host's failure.
		"2026-11-28 23:31:56 1xXRtT-0000Ls-1M H=127.0.0.1 [127.0.0.1]:2608 Connection refused",
		"2026-11-28 23:31:56 1xXRtT-0000Ls-1M == a@refused.example R=sink T=sink_refused defer (111): Connection refused DT=0s",
		"2026-11-28 23:31:56 1xXRtT-0000Ls-1M ** b@refused.example: retry timeout exceeded",
	}
	want := []string{"", "192.0.2.50", "192.0.2.50", "", "", "127.0.0.1[127.0.0.1]:2608", ""}
	for i, l := range lines {
		ev := p.Parse(l)
		if got := ev.Relay.Raw; got != want[i] && !(got != "" && ev.Relay.Addr == want[i]) {
			t.Errorf("line %d: relay %+v, want %q", i+1, ev.Relay, want[i])
		}
	}
}
