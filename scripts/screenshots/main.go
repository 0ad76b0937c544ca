// Command screenshots signs in to a running `granary serve` with a token
// and saves each page that needs a session at 1400 × 900 as a PNG, for
// scripts/screenshots.sh (which shoots the pages open without a sign-in
// with Chromium's own --screenshot).
//
//	go run ./scripts/screenshots URL TOKEN OUTDIR NAME=PATH...
//
// Chromium is $GRANARY_TEST_CHROMIUM (scripts/env.d/chromium.sh).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 4 {
		return fmt.Errorf("usage: screenshots URL TOKEN OUTDIR NAME=PATH…")
	}
	url, token, outdir := strings.TrimRight(args[0], "/"), args[1], args[2]
	chrome := os.Getenv("GRANARY_TEST_CHROMIUM")
	if chrome == "" {
		return fmt.Errorf("GRANARY_TEST_CHROMIUM is not set (eval \"$(bash scripts/env.d/chromium.sh)\")")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1400, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(url+"/signin"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitReady(chromedp.CSS("footer")),
	); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	for _, a := range args[3:] {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q is not NAME=PATH", a)
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(url+path), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			return fmt.Errorf("%s (%s): %w", name, path, err)
		}
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			return fmt.Errorf("%s (%s): %w", name, path, err)
		}
		out := filepath.Join(outdir, name+".png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "screenshots: wrote %s (%d bytes)\n", out, len(png))
	}
	return nil
}
