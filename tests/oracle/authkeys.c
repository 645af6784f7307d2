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

static void
verdict(const char *line)
{
	struct sshkey *found = NULL;
	struct sshauthopt *opts = NULL;
	char *cp = (char *)line, *key_options = NULL, *fp = NULL;
	const char *reason = NULL;

	skip_space(&cp);
	if (!*cp || *cp == '\n' || *cp == '#') {
		printf("SKIP\n");
		return;
	}
	if ((found = sshkey_new(KEY_UNSPEC)) == NULL)
		abort();
	if (sshkey_read(found, &cp) != 0) {
		key_options = cp;
		if (sshkey_advance_past_options(&cp) != 0) {
			printf("NO invalid key option string\n");
			goto out;
		}
		skip_space(&cp);
		if (sshkey_read(found, &cp) != 0) {
			printf("NO no key\n");
			goto out;
		}
	}
	if ((opts = sshauthopt_parse(key_options, &reason)) == NULL) {
		printf("NO bad key options: %s\n", reason);
		goto out;
	}
	if (sshkey_is_cert(found)) {
		printf("NO certificate\n");
		goto out;
	}
	if (!opts->cert_authority && opts->cert_principals != NULL) {
		printf("NO principals on non-CA key\n");
		goto out;
	}
	if (opts->required_from_host_keys != NULL &&
	    addr_match_list(NULL, opts->required_from_host_keys) == -2) {
		printf("NO invalid from criteria\n");
		goto out;
	}
	if ((fp = sshkey_fingerprint(found, SSH_DIGEST_SHA256,
	    SSH_FP_BASE64)) == NULL)
		abort();
	printf("OK %s %s ca=%d expiry=%llu\n", sshkey_ssh_name(found), fp,
	    opts->cert_authority, (unsigned long long)opts->valid_before);
 out:
	free(fp);
	sshauthopt_free(opts);
	sshkey_free(found);
}

int
main(void)
{
	char *line = NULL;
	size_t size = 0;

	while (getline(&line, &size, stdin) != -1)
		verdict(line);
	free(line);
	return fflush(stdout) == 0 ? 0 : 1;
}
