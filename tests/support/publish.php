<?php
// Publishes Mercure updates the way a Symfony app does: Symfony's Mercure component
// (Hub + Update), configured only from the bundle's symfony/.env.local loaded with
// Symfony Dotenv. Used by the end-to-end tests and the latency benchmark.
//
// php publish.php ENV_LOCAL TOPIC DATA PRIVATE(0|1) COUNT HTTPS_PORT CAFILE PROJECT_DIR
//
// DATA may contain {seq} and {t} (microtime(true) at publish, for latency).
// The test stack cannot listen on 443, so for an https MERCURE_URL the connection
// (not the URL, Host or SNI) goes to 127.0.0.1:HTTPS_PORT, like a DNS entry would,
// and CAFILE stands in for the public CA. Files the configuration names under
// PROJECT_DIR (MERCURE_JWT_SECRET_FILE) are read from the bundle's symfony/ folder,
// where INSTALL.md copies them from. Nothing else is configured here.

require_once 'Symfony/Component/Dotenv/autoload.php';
require_once 'Symfony/Component/Mercure/autoload.php';
require_once 'Symfony/Component/HttpClient/autoload.php';

use Symfony\Component\Dotenv\Dotenv;
use Symfony\Component\HttpClient\DecoratorTrait;
use Symfony\Component\HttpClient\HttpClient;
use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\CallableTokenProvider;
use Symfony\Component\Mercure\Update;
use Symfony\Contracts\HttpClient\HttpClientInterface;
use Symfony\Contracts\HttpClient\ResponseInterface;

[, $envFile, $topic, $data, $private, $count, $httpsPort, $cafile, $projectDir] = $argv;

(new Dotenv())->load($envFile);
$url = $_ENV['MERCURE_URL'];
$symfonyDir = dirname($envFile);

// The algorithm as config/packages/mercure.yaml sets it for the bundle (hmac.sha256,
// hmac.sha512 or ecdsa.sha256), and the key from MERCURE_JWT_SECRET or the file
// MERCURE_JWT_SECRET_FILE names.
preg_match("/algorithm: '([a-z0-9.]+)'/", file_get_contents("$symfonyDir/config/packages/mercure.yaml"), $m);
$algorithm = $m[1] ?? 'hmac.sha256';
$secret = isset($_ENV['MERCURE_JWT_SECRET_FILE'])
    ? file_get_contents($symfonyDir . substr($_ENV['MERCURE_JWT_SECRET_FILE'], strlen($projectDir)))
    : $_ENV['MERCURE_JWT_SECRET'];

// lcobucci/jwt is not packaged in Debian, so the publisher token is signed here
// over the same claims Symfony's LcobucciFactory puts in it.
function b64url(string $s): string
{
    return rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
}

/** An ECDSA DER signature as JWS wants it: R and S, 32 bytes each. */
function der_to_raw(string $der): string
{
    $offset = 3 + (ord($der[1]) & 0x80 ? 1 : 0);
    $parts = '';
    for ($i = 0; $i < 2; $i++) {
        $len = ord($der[$offset]);
        $int = ltrim(substr($der, $offset + 1, $len), "\0");
        $parts .= str_pad($int, 32, "\0", STR_PAD_LEFT);
        $offset += 2 + $len;
    }
    return $parts;
}

// With `protocol_version: '1.0'` (MercureBundle >= 0.5) the bundle's factory signs an
// RFC 9068 access token: `typ: at+jwt`, the `jwt.claims` of mercure.yaml (iss, sub,
// client_id, aud), iat/exp/jti and authorization_details for the `publish` topics.
$yaml = file_get_contents("$symfonyDir/config/packages/mercure.yaml");
$v1 = (bool) preg_match("/^\s*protocol_version: '1\.0'/m", $yaml);
$claims = [];
if ($v1) {
    preg_match_all("/^\s{20}(iss|sub|client_id|aud): '([^']*)'/m", $yaml, $found, PREG_SET_ORDER);
    foreach ($found as [, $name, $value]) {
        $claims[$name] = $value;
    }
}

$jwt = (function () use ($secret, $algorithm, $v1, $claims): string {
    $alg = ['hmac.sha256' => 'HS256', 'hmac.sha512' => 'HS512', 'ecdsa.sha256' => 'ES256'][$algorithm];
    $head = b64url(json_encode(['typ' => $v1 ? 'at+jwt' : 'JWT', 'alg' => $alg]));
    $body = b64url(json_encode($v1
        ? $claims + [
            'iat' => time(),
            'exp' => time() + 3600,
            'jti' => bin2hex(random_bytes(16)),
            'authorization_details' => [[
                'type' => 'https://mercure.rocks/authorization-detail',
                'actions' => ['publish'],
                'topics' => [['match' => '*']],
            ]],
        ]
        : ['mercure' => ['publish' => ['*']]], JSON_UNESCAPED_SLASHES));
    $input = "$head.$body";
    if ($alg === 'ES256') {
        openssl_sign($input, $der, openssl_pkey_get_private($secret), OPENSSL_ALGO_SHA256) or exit("cannot sign with the ES256 key\n");
        return "$input." . b64url(der_to_raw($der));
    }
    return "$input." . b64url(hash_hmac($alg === 'HS512' ? 'sha512' : 'sha256', $input, $secret, true));
})();

/** Sends https://HOST/... to 127.0.0.1:PORT, keeping the URL's host for Host and SNI. */
final class PortMap implements HttpClientInterface
{
    use DecoratorTrait;

    public function __construct(HttpClientInterface $client, private string $port)
    {
        $this->client = $client;
    }

    public function request(string $method, string $url, array $options = []): ResponseInterface
    {
        $parts = parse_url($url);
        if (($parts['scheme'] ?? '') === 'https' && !isset($parts['port'])) {
            $options['resolve'] = [$parts['host'] => '127.0.0.1'];
            $url = preg_replace('#^https://([^/]+)#', 'https://$1:' . $this->port, $url);
        }
        return $this->client->request($method, $url, $options);
    }
}

$client = new PortMap(HttpClient::create(['cafile' => $cafile]), $httpsPort);
$hub = new Hub($url, new CallableTokenProvider(fn () => $jwt), null, null, $client);

for ($i = 0; $i < (int) $count; $i++) {
    $payload = strtr($data, ['{seq}' => (string) $i, '{t}' => sprintf('%.6f', microtime(true))]);
    echo $hub->publish(new Update($topic, $payload, $private === '1')), "\n";
    if ((int) $count > 1) {
        usleep(20000);
    }
}
