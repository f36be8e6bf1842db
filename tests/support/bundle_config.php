<?php
// Processes a rendered config/packages/mercure.yaml with MercureBundle's own
// configuration tree (its DependencyInjection/Configuration.php, from the release
// archive the test extracts), as Symfony does when it compiles the container, and
// prints the processed `mercure` configuration as JSON. Exits non-zero on an error.
//
// php bundle_config.php BUNDLE_SRC MERCURE_YAML
//
// Uses Debian's php-symfony-config and php-symfony-yaml. The tree reads the protocol
// versions from symfony/mercure 0.8's ProtocolVersion enum; Debian ships 0.6.3, which
// predates it, so the enum's two cases are declared here when it is missing.

namespace Symfony\Component\Mercure {
    if (!enum_exists(ProtocolVersion::class)) {
        enum ProtocolVersion: string
        {
            case Legacy = '0.x';
            case V1 = '1.0';
        }
    }
}

namespace {
    require_once 'Symfony/Component/Config/autoload.php';
    require_once 'Symfony/Component/Yaml/autoload.php';

    use Symfony\Bundle\MercureBundle\DependencyInjection\Configuration;
    use Symfony\Component\Config\Definition\Processor;
    use Symfony\Component\Yaml\Yaml;

    [, $bundleSrc, $yamlFile] = $argv;
    require_once "$bundleSrc/DependencyInjection/Configuration.php";

    $yaml = Yaml::parseFile($yamlFile);
    try {
        $config = (new Processor())->processConfiguration(new Configuration(), [$yaml['mercure']]);
    } catch (\Throwable $e) {
        fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
        exit(1);
    }
    echo json_encode($config, JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\n";
}
