package report

import (
	"html/template"
	"io"
	"strconv"
)

// HTML writes one self-contained page: no external script, font or style.
// html/template escapes every string, and most of them came from logs that
// an attacker writes (recipient addresses, reply texts).
func HTML(w io.Writer, s *Summary) error {
	cols := columns(s.By)
	type cell struct {
		Text string
		Sort string // numeric sort key; "" sorts as text
	}
	type row struct{ Cells []cell }
	mk := func(g Group) row {
		var r row
		for i, c := range cols {
			v := c.Value(g)
			key := ""
			if i > 0 {
				key = sortKey(c.CSV, g)
			}
			r.Cells = append(r.Cells, cell{v, key})
		}
		return r
	}
	var rows []row
	for _, g := range s.Groups {
		rows = append(rows, mk(g))
	}
	total := s.Totals
	total.Name = "TOTAL"

	// Stacked bars: recipients by outcome, per group (the first 30).
	type seg struct {
		X, W  float64
		Class string
		Title string
	}
	type barRow struct {
		Y    int
		Name string
		Segs []seg
	}
	const barW = 600.0
	var bars []barRow
	var peak int64
	for _, g := range s.Groups {
		peak = max(peak, g.Recipients)
	}
	for i, g := range s.Groups {
		if i == 30 || peak == 0 {
			break
		}
		waiting := g.Recipients - g.Delivered - g.Bounced - g.Expired
		x := 0.0
		var segs []seg
		for _, p := range []struct {
			n     int64
			class string
			what  string
		}{{g.Delivered, "dl", "delivered"}, {g.Bounced, "bn", "bounced"}, {g.Expired, "ex", "expired"}, {waiting, "wt", "waiting"}} {
			if p.n <= 0 {
				continue
			}
			wd := float64(p.n) * barW / float64(peak)
			segs = append(segs, seg{x, wd, p.class, g.Name + ": " + num(p.n) + " " + p.what})
			x += wd
		}
		bars = append(bars, barRow{Y: i * 18, Name: g.Name, Segs: segs})
	}

	// Trend: stacked columns of attempts per bucket.
	type col struct {
		X    float64
		Segs []struct {
			Y, H  float64
			Class string
			Title string
		}
		Label string
	}
	var trend []col
	const trendH = 160.0
	var tpeak int64
	for _, p := range s.Trend.Points {
		tpeak = max(tpeak, p.Total())
	}
	cw := 0.0
	if n := len(s.Trend.Points); n > 0 {
		cw = 720.0 / float64(n)
	}
	for i, p := range s.Trend.Points {
		c := col{X: float64(i) * cw, Label: p.Start.In(s.loc()).Format("2006-01-02 15:04")}
		y := trendH
		for _, part := range []struct {
			n     int64
			class string
			what  string
		}{{p.Delivered, "dl", "delivered"}, {p.Deferred, "df", "deferred"}, {p.Bounced, "bn", "bounced"}, {p.Expired, "ex", "expired"}} {
			if part.n <= 0 || tpeak == 0 {
				continue
			}
			h := float64(part.n) * trendH / float64(tpeak)
			y -= h
			c.Segs = append(c.Segs, struct {
				Y, H  float64
				Class string
				Title string
			}{y, h, part.class, c.Label + ": " + num(part.n) + " " + part.what})
		}
		trend = append(trend, c)
	}

	var worst []Group
	if s.By == ByDomain {
		worst = s.WorstBounceRate(WorstMinRecipients, 10)
	}
	data := map[string]any{
		"S": s, "Window": s.WindowText(), "Cols": cols, "Rows": rows, "Total": mk(total), "T": s.Totals,
		"Bars": bars, "BarsH": len(bars)*18 + 4, "BarW": barW,
		"Trend": trend, "TrendW": cw, "TrendBucket": bucketName(s.Trend.Bucket),
		"Worst": worst, "WorstMin": WorstMinRecipients,
	}
	return page.Execute(w, data)
}

// sortKey is a number for the table's sorting script.
func sortKey(column string, g Group) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch column {
	case "messages":
		return f(float64(g.Messages))
	case "recipients":
		return f(float64(g.Recipients))
	case "delivered":
		return f(float64(g.Delivered))
	case "deferred":
		return f(float64(g.Deferred))
	case "deferred_recipients":
		return f(float64(g.DeferredRecipients))
	case "bounced":
		return f(float64(g.Bounced))
	case "expired":
		return f(float64(g.Expired))
	case "rejected":
		return f(float64(g.Rejected))
	case "delivery_rate":
		return f(g.DeliveryRate())
	case "bounce_rate":
		return f(g.BounceRate())
	case "deferral_rate":
		return f(g.DeferralRate())
	case "delay_median", "delay_p95":
		if g.DelaySample == 0 {
			return "-" // no delay: sorted last, not as 0 s
		}
		if column == "delay_median" {
			return f(g.DelayMedian)
		}
		return f(g.DelayP95)
	}
	return ""
}

var funcs = template.FuncMap{
	"num":    num,
	"pct":    pct,
	"dur":    Duration,
	"code":   codeText,
	"reason": reasonName,
	"add":    func(a, b float64) float64 { return a + b },
	"sub":    func(a, b float64) float64 { return a - b },
	"cut":    cut,
}

var page = template.Must(template.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mailbounce report, {{.Window}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td.txt{text-align:left;white-space:normal;max-width:50em;word-break:break-word}
th{background:#f4f4f4;cursor:pointer;user-select:none}
tr.total td{font-weight:bold;border-top:2px solid #888}
.dl{fill:#4a9a4a}.df{fill:#e0b030}.bn{fill:#c83737}.ex{fill:#e07020}.wt{fill:#aaa}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
.alert{color:#c83737;font-weight:bold}
svg text{font-size:11px}
</style></head><body>
<h1>mailbounce report, {{.Window}}{{if .S.Filter}}, domain {{.S.Filter}}{{end}}</h1>
<p>{{num .T.Recipients}} recipients in {{num .T.Messages}} messages: {{num .T.Delivered}} delivered ({{pct .T.DeliveryRate}}),
{{num .T.Bounced}} bounced ({{pct .T.BounceRate}}), {{num .T.Expired}} expired ({{pct .T.ExpiredRate}}),
{{num .T.DeferredRecipients}} deferred at least once ({{pct .T.DeferralRate}}, {{num .T.Deferred}} deferral attempts);
{{num .T.Rejected}} rejected at our door.{{if .T.DelaySample}} Delivery delay: median {{dur .T.DelayMedian}}, 95th percentile {{dur .T.DelayP95}}.{{end}}</p>
{{range .S.Thresholds}}<p class="alert">Threshold crossed: {{.String}}</p>{{end}}
<table id="main"><thead><tr>{{range $i, $c := .Cols}}<th data-col="{{$i}}">{{$c.Head}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .Cells}}<td{{if .Sort}} data-v="{{.Sort}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
<tfoot><tr class="total">{{range .Total.Cells}}<td>{{.Text}}</td>{{end}}</tr></tfoot></table>
{{if .S.Omitted}}<p>{{.S.Omitted}} more not shown.</p>{{end}}
<p>Rates are over recipients. Dfrd counts deferral attempts, DfRcp recipients deferred at least once. p50/p95: delivery delay of delivered recipients.</p>
{{if .Bars}}<h2>Recipients by outcome</h2>
<p class="legend"><span style="background:#4a9a4a"></span>delivered<span style="background:#c83737"></span>bounced<span style="background:#e07020"></span>expired<span style="background:#aaa"></span>waiting</p>
<svg width="{{add .BarW 260}}" height="{{.BarsH}}" role="img" aria-label="recipients by outcome">
{{range $b := .Bars}}<text x="250" y="{{$b.Y}}" dy="12" text-anchor="end">{{cut $b.Name 40}}</text>
{{range $b.Segs}}<rect x="{{add .X 256}}" y="{{$b.Y}}" width="{{.W}}" height="14" class="{{.Class}}"><title>{{.Title}}</title></rect>{{end}}
{{end}}</svg>{{end}}
{{if .Trend}}<h2>Attempts per {{.TrendBucket}}</h2>
<p class="legend"><span style="background:#4a9a4a"></span>delivered<span style="background:#e0b030"></span>deferred<span style="background:#c83737"></span>bounced<span style="background:#e07020"></span>expired</p>
<svg width="740" height="200" role="img" aria-label="attempts over time">
{{range $c := .Trend}}{{range $c.Segs}}<rect x="{{$c.X}}" y="{{.Y}}" width="{{sub $.TrendW 1}}" height="{{.H}}" class="{{.Class}}"><title>{{.Title}}</title></rect>{{end}}{{end}}
{{with .Trend}}<text x="0" y="178">{{(index . 0).Label}}</text>{{end}}
</svg>{{end}}
{{if .S.Failures}}<h2>Failure reasons (attempts)</h2>
<table><tr><th>outcome</th><th>reason</th><th>attempts</th><th>reply</th><th>example</th></tr>
{{range .S.Failures}}<tr><td>{{.Outcome}}</td><td title="{{.Description}}">{{reason .Reason}}</td><td>{{num .Count}}</td><td>{{code .}}</td><td class="txt">{{.Example}}</td></tr>
{{end}}</table>{{end}}
{{if .Worst}}<h2>Worst bounce rates (at least {{.WorstMin}} recipients)</h2>
<table><tr><th>domain</th><th>recipients</th><th>bounced</th><th>bounce rate</th></tr>
{{range .Worst}}<tr><td>{{.Name}}</td><td>{{num .Recipients}}</td><td>{{num .Bounced}}</td><td>{{pct .BounceRate}}</td></tr>
{{end}}</table>{{end}}
{{if .S.Relays}}<h2>Next hops (attempts)</h2>
<table><tr><th>relay</th><th>attempts</th><th>delivered</th><th>deferred</th><th>bounced</th><th>expired</th><th>failure rate</th><th>top reason</th></tr>
{{range .S.Relays}}<tr><td>{{.Relay}}</td><td>{{num .Attempts}}</td><td>{{num .Delivered}}</td><td>{{num .Deferred}}</td><td>{{num .Bounced}}</td><td>{{num .Expired}}</td><td>{{pct .FailureRate}}</td><td>{{.TopReason}}</td></tr>
{{end}}</table>{{end}}
{{if .S.Rejects}}<h2>Rejected at our door</h2>
<table><tr><th>reason</th><th>count</th><th>reply</th><th>example</th></tr>
{{range .S.Rejects}}<tr><td>{{reason .Reason}}</td><td>{{num .Count}}</td><td>{{code .}}</td><td class="txt">{{.Example}}</td></tr>
{{end}}</table>{{end}}
<script>
// Click a heading to sort the table by it; click again to reverse.
document.querySelectorAll("#main th").forEach(function (th) {
  th.addEventListener("click", function () {
    var col = +th.dataset.col, body = document.querySelector("#main tbody");
    var dir = th.dataset.dir === "desc" ? 1 : -1;
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      if (x.dataset.v !== undefined) {
        var p = parseFloat(x.dataset.v), q = parseFloat(y.dataset.v);
        if (isNaN(p) || isNaN(q)) return isNaN(p) - isNaN(q); // no figure: last either way
        return dir * (p - q);
      }
      return dir * x.textContent.localeCompare(y.textContent);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body></html>
`))
