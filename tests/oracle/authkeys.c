/*
 * The differential test's oracle: OpenSSH's own authorized_keys line parser,
 * compiled from an OpenSSH source tree and linked with its libssh.a.
 *
 * Reads lines on stdin as sshd reads AuthorizedKeysCommand output (getline,
 * then a C string) and prints one verdict per line:
 *   SKIP                          blank or comment line
 *   NO <reason>                   a line sshd never uses
 *   OK <type> <SHA256:fp> ca=<0|1> expiry=<time_t or 0>
 * The steps are auth_check_authkey_line()'s (auth2-pubkeyfile.c in 9.x,
 * auth2-pubkey.c in 8.x) up to the key comparison, plus the checks
 * auth_authorise_keyopts() makes that no client can ever pass: a
 * certificate as the key, principals= without cert-authority, and a from=
 * list that addr_match_list() calls invalid.
 *
 * With the argument "offered" it answers for an offered key (sshd's %k)
 * instead, one command per input line:
 *   SIGN <private key> <alg|-> <base64 body>  a certificate body signed by
 *                                  that CA: prints its base64 (body, then
 *                                  the signature string)
 *   OFFER <base64 blob>            sshkey_from_blob(), as sshd reads what
 *                                  a client offers: OK or BAD <error>
 *   LINE <authorized_keys line>    MATCH when auth_check_authkey_line()
 *                                  would find the offered key on that line
 *                                  (a certificate: a cert-authority line of
 *                                  its signing key; a plain key: a line of
 *                                  that key without cert-authority), else NO
 */
#include "includes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sshkey.h"
#include "authfile.h"
#include "auth-options.h"
#include "digest.h"
#include "match.h"
#include "misc.h"
#include "sshbuf.h"
#include "ssherr.h"

/*
 * The line's key and options as auth_check_authkey_line() reads them, or
 * NULL with *why set ("" for a blank or comment line).
 */
static struct sshkey *
read_line(const char *line, struct sshauthopt **optsp, const char **why)
{
	struct sshkey *found = NULL;
	struct sshauthopt *opts = NULL;
	char *cp = (char *)line, *key_options = NULL;
	const char *reason = NULL;
	static char buf[256];

	*optsp = NULL;
	skip_space(&cp);
	if (!*cp || *cp == '\n' || *cp == '#') {
		*why = "";
		return NULL;
	}
	if ((found = sshkey_new(KEY_UNSPEC)) == NULL)
		abort();
	if (sshkey_read(found, &cp) != 0) {
		key_options = cp;
		if (sshkey_advance_past_options(&cp) != 0) {
			*why = "invalid key option string";
			goto bad;
		}
		skip_space(&cp);
		if (sshkey_read(found, &cp) != 0) {
			*why = "no key";
			goto bad;
		}
	}
	if ((opts = sshauthopt_parse(key_options, &reason)) == NULL) {
		snprintf(buf, sizeof(buf), "bad key options: %s", reason);
		*why = buf;
		goto bad;
	}
	if (sshkey_is_cert(found)) {
		*why = "certificate";
		goto bad;
	}
	if (!opts->cert_authority && opts->cert_principals != NULL) {
		*why = "principals on non-CA key";
		goto bad;
	}
	if (opts->required_from_host_keys != NULL &&
	    addr_match_list(NULL, opts->required_from_host_keys) == -2) {
		*why = "invalid from criteria";
		goto bad;
	}
	*optsp = opts;
	return found;
 bad:
	sshauthopt_free(opts);
	sshkey_free(found);
	return NULL;
}

static void
verdict(const char *line)
{
	struct sshkey *found;
	struct sshauthopt *opts = NULL;
	const char *why = NULL;
	char *fp = NULL;

	if ((found = read_line(line, &opts, &why)) == NULL) {
		if (*why == '\0')
			printf("SKIP\n");
		else
			printf("NO %s\n", why);
		return;
	}
	if ((fp = sshkey_fingerprint(found, SSH_DIGEST_SHA256,
	    SSH_FP_BASE64)) == NULL)
		abort();
	printf("OK %s %s ca=%d expiry=%llu\n", sshkey_ssh_name(found), fp,
	    opts->cert_authority, (unsigned long long)opts->valid_before);
	free(fp);
	sshauthopt_free(opts);
	sshkey_free(found);
}

static struct sshbuf *
from_b64(const char *b64)
{
	struct sshbuf *b;

	if ((b = sshbuf_new()) == NULL)
		abort();
	if (sshbuf_b64tod(b, b64) != 0) {
		sshbuf_free(b);
		return NULL;
	}
	return b;
}

static void
sign(char *args)
{
	char *path = strsep(&args, " "), *alg = strsep(&args, " ");
	struct sshkey *ca = NULL;
	struct sshbuf *body;
	u_char *sig = NULL;
	size_t siglen = 0;
	char *out;
	int r;

	if (path == NULL || alg == NULL || args == NULL ||
	    (body = from_b64(args)) == NULL) {
		printf("ERR bad SIGN\n");
		return;
	}
	if ((r = sshkey_load_private(path, "", &ca, NULL)) != 0) {
		printf("ERR load %s: %s\n", path, ssh_err(r));
		sshbuf_free(body);
		return;
	}
#ifdef ORACLE_SIGN_NO_PIN
	r = sshkey_sign(ca, &sig, &siglen, sshbuf_ptr(body), sshbuf_len(body),
	    strcmp(alg, "-") == 0 ? NULL : alg, NULL, 0);
#else
	r = sshkey_sign(ca, &sig, &siglen, sshbuf_ptr(body), sshbuf_len(body),
	    strcmp(alg, "-") == 0 ? NULL : alg, NULL, NULL, 0);
#endif
	if (r != 0 || sshbuf_put_string(body, sig, siglen) != 0) {
		printf("ERR sign: %s\n", ssh_err(r));
	} else {
		if ((out = sshbuf_dtob64_string(body, 0)) == NULL)
			abort();
		printf("%s\n", out);
		free(out);
	}
	free(sig);
	sshkey_free(ca);
	sshbuf_free(body);
}

static void
offered(void)
{
	char *line = NULL;
	size_t size = 0;
	ssize_t n;
	struct sshkey *key = NULL, *found, *want;
	struct sshauthopt *opts;
	struct sshbuf *b;
	const char *why;
	int r, match;

	while ((n = getline(&line, &size, stdin)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strncmp(line, "SIGN ", 5) == 0) {
			sign(line + 5);
		} else if (strncmp(line, "OFFER ", 6) == 0) {
			sshkey_free(key);
			key = NULL;
			if ((b = from_b64(line + 6)) == NULL) {
				printf("BAD base64\n");
				continue;
			}
			r = sshkey_from_blob(sshbuf_ptr(b), sshbuf_len(b), &key);
			sshbuf_free(b);
			if (r != 0)
				printf("BAD %s\n", ssh_err(r));
			else
				printf("OK\n");
		} else if (strncmp(line, "LINE ", 5) == 0 && key != NULL) {
			/* auth_check_authkey_line()'s comparison. */
			match = 0;
			if ((found = read_line(line + 5, &opts, &why)) != NULL) {
				want = sshkey_is_cert(key) ?
				    key->cert->signature_key : key;
				match = opts->cert_authority ==
				    sshkey_is_cert(key) &&
				    sshkey_equal(found, want);
				sshauthopt_free(opts);
				sshkey_free(found);
			}
			printf("%s\n", match ? "MATCH" : "NO");
		} else {
			printf("ERR unknown command\n");
		}
		/* The test asks one question at a time. */
		fflush(stdout);
	}
	sshkey_free(key);
	free(line);
}

int
main(int argc, char **argv)
{
	char *line = NULL;
	size_t size = 0;

	if (argc > 1 && strcmp(argv[1], "offered") == 0) {
		offered();
		return fflush(stdout) == 0 ? 0 : 1;
	}
	while (getline(&line, &size, stdin) != -1)
		verdict(line);
	free(line);
	return fflush(stdout) == 0 ? 0 : 1;
}
