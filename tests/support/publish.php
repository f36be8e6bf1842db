<?php
// Publishes Mercure updates the way a Symfony app does: Symfony's Mercure component
// (Hub + Update), configured only from the bundle's symfony/.env.local loaded with
// Symfony Dotenv. Used by the end-to-end tests and the latency benchmark.
//
// php publish.php ENV_LOCAL TOPIC DATA PRIVATE(0|1) COUNT HTTPS_PORT CAFILE
//
// DATA may contain {seq} and {t} (microtime(true) at publish, for latency).
// The test stack cannot listen on 443, so for an https MERCURE_URL the connection
// (not the URL, Host or SNI) goes to 127.0.0.1:HTTPS_PORT, like a DNS entry would,
// and CAFILE stands in for the public CA. Nothing else is configured here.

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

[, $envFile, $topic, $data, $private, $count, $httpsPort, $cafile] = $argv;

(new Dotenv())->load($envFile);
$url = $_ENV['MERCURE_URL'];
$secret = $_ENV['MERCURE_JWT_SECRET'];

// lcobucci/jwt is not packaged in Debian, so the publisher token is signed here:
// HS256 over the same claims Symfony's LcobucciFactory puts in it.
function b64url(string $s): string
{
    return rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
}
$jwt = (function () use ($secret): string {
    $head = b64url(json_encode(['typ' => 'JWT', 'alg' => 'HS256']));
    $body = b64url(json_encode(['mercure' => ['publish' => ['*']]]));
    return "$head.$body." . b64url(hash_hmac('sha256', "$head.$body", $secret, true));
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
