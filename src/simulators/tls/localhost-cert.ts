/**
 * THROWAWAY self-signed TLS certificate and key for the local simulators (CN=localhost, SAN localhost,
 * 127.0.0.1, ::1; valid 2000-2100). Not a secret: never use it for anything but loopback tests and demos.
 * Same text as localhost-cert.pem / localhost-key.pem (see README.md); kept as a module so it ships in dist/.
 */
export const LOCALHOST_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIBdzCCARygAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEK5x4KW/c+H1uTg
Js4hm7YA70ybyOFIi4pRSm48DSHyG8mrsY86Pagj8AyWyoqifN7Nf/LDr9RCGPcG
VJAHn2KjXTBbMCwGA1UdEQQlMCOCCWxvY2FsaG9zdIcEfwAAAYcQAAAAAAAAAAAA
AAAAAAAAATAMBgNVHRMBAf8EAjAAMB0GA1UdDgQWBBSlyxNC4iqiikY33I8/If+c
bDhp+zAKBggqhkjOPQQDAgNJADBGAiEAmVQg8ILj2L4l1toPau6Bn0I9krBlXW1f
4RIGiZy2i+kCIQD0QMDjc8UqZLBNuJvxFjdGGXSkJ1FU9b0whbrcltbS4w==
-----END CERTIFICATE-----
`;

/** Private key of {@link LOCALHOST_CERT_PEM} (throwaway, public on purpose). */
export const LOCALHOST_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVc7CgARcphcy2B5f
LHNttOcS2ry+DiHZYDbA9bwgvkihRANCAARCuceClv3Ph9bk4CbOIZu2AO9Mm8jh
SIuKUUpuPA0h8hvJq7GPOj2oI/AMlsqKonzezX/yw6/UQhj3BlSQB59i
-----END PRIVATE KEY-----
`;
