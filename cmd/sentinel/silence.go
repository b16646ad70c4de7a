package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sentinel-project/sentinel/pkg/admin"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

const silenceUsage = `give a subcommand:
  sentinel silence add (--token FP | --addresses CIDR) [--for 1h] [--reason TEXT]
  sentinel silence list
  sentinel silence rm ID
each with --config FILE (for admin.listen) or --admin HOST:PORT`

func silenceCmd(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("%s", silenceUsage)
	}
	fs := newFlags("silence "+args[0], stderr)
	cfgPath := fs.String("config", "", "configuration file, for admin.listen")
	addr := fs.String("admin", "", "admin listener host:port (overrides the configuration's)")
	token := fs.String("token", "", "add: the token's fingerprint")
	addrs := fs.String("addresses", "", "add: an address or CIDR range")
	dur := fs.Duration("for", time.Hour, "add: how long")
	reason := fs.String("reason", "", "add: why, shown in list and the log")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := adminClient(*cfgPath, *addr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "add":
		s, err := c.AddSilence(ctx, silence.Silence{Token: *token, Addresses: *addrs, Until: time.Now().Add(*dur), Reason: *reason})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "silence %s until %s\n", s.ID, s.Until.Local().Format(time.DateTime))
		return nil
	case "list":
		return listSilences(ctx, c, stdout)
	case "rm":
		if fs.NArg() != 1 {
			return usageErr("rm takes one silence id")
		}
		return c.RemoveSilence(ctx, fs.Arg(0))
	}
	return usageErr("unknown silence command %q\n%s", args[0], silenceUsage)
}

func adminClient(cfgPath, addr string) (*admin.Client, error) {
	if addr != "" {
		return &admin.Client{Addr: addr}, nil
	}
	c, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if !c.Admin.On() || strings.HasSuffix(c.Admin.Listen, ":0") {
		return nil, usageErr("the configuration gives no fixed admin.listen address: pass --admin HOST:PORT")
	}
	return &admin.Client{Addr: c.Admin.Listen}, nil
}

func listSilences(ctx context.Context, c *admin.Client, stdout io.Writer) error {
	list, err := c.Silences(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOKEN\tADDRESSES\tUNTIL\tREASON")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, dash(s.Token), dash(s.Addresses), s.Until.Local().Format(time.DateTime), s.Reason)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
