"""Translated queries for bench/multilingual_eval.py, written by hand (offline) from real captions.

Captions: Debian's gcompris-qt-data 3.1-2 (bench/tune_gcompris.py): an explore photo's title
and the first sentence of its text, or a categorization photo's name and category. Each row
is (English, Chinese, French, German, Spanish); the English is the caption as shortened here,
so each language asks the same thing. TUNING rows come from tune_gcompris's train split and
choose the routing settings; HELD_OUT rows are its held-out split and give the figures.
"""

from __future__ import annotations

Row = tuple[str, str, str, str, str]

TUNING: list[Row] = [
    (
        "Cat. Cats are valued by humans for companionship and their ability to chase mice.",
        "猫。人们喜爱猫的陪伴，也看重它们捕捉老鼠的本领。",
        "Chat. Les chats sont appréciés pour leur compagnie et leur capacité à chasser les souris.",
        "Katze. Katzen werden als Gefährten geschätzt und weil sie Mäuse jagen.",
        "Gato. Los gatos son apreciados por su compañía y su habilidad para cazar ratones.",
    ),
    (
        "Chicken. Domestic chickens have wings, but are not capable of long-distance flight.",
        "鸡。家鸡有翅膀，但不能长距离飞行。",
        "Poule. Les poules domestiques ont des ailes, mais ne peuvent pas voler longtemps.",
        "Huhn. Haushühner haben Flügel, können aber nicht weit fliegen.",
        "Gallina. Las gallinas domésticas tienen alas, pero no pueden volar largas distancias.",
    ),
    (
        "Cow. Cows have a wide field of view and a well-developed sense of taste.",
        "奶牛。奶牛的视野很宽，味觉也很发达。",
        "Vache. Les vaches ont un large champ de vision et un goût très développé.",
        "Kuh. Kühe haben ein weites Blickfeld und einen gut entwickelten Geschmackssinn.",
        "Vaca. Las vacas tienen un amplio campo de visión y un sentido del gusto muy desarrollado.",
    ),
    (
        "Dog. Dogs are probably the oldest domesticated species.",
        "狗。狗可能是最早被驯化的动物。",
        "Chien. Les chiens sont probablement l'espèce domestiquée la plus ancienne.",
        "Hund. Hunde sind wahrscheinlich die älteste domestizierte Tierart.",
        "Perro. Los perros son probablemente la especie domesticada más antigua.",
    ),
    (
        "Duck. Ducks are mostly aquatic birds.",
        "鸭子。鸭子大多是水鸟。",
        "Canard. Les canards sont surtout des oiseaux aquatiques.",
        "Ente. Enten sind meist Wasservögel.",
        "Pato. Los patos son sobre todo aves acuáticas.",
    ),
    (
        "Giraffe. The giraffe lives in Africa and is the tallest mammal in the world.",
        "长颈鹿。长颈鹿生活在非洲，是世界上最高的哺乳动物。",
        "Girafe. La girafe vit en Afrique et c'est le plus grand mammifère du monde.",
        "Giraffe. Die Giraffe lebt in Afrika und ist das größte Säugetier der Welt.",
        "Jirafa. La jirafa vive en África y es el mamífero más alto del mundo.",
    ),
    (
        "Hedgehog. Hedgehogs eat small animals, like frogs and insects.",
        "刺猬。刺猬吃小动物，比如青蛙和昆虫。",
        "Hérisson. Les hérissons mangent de petits animaux, comme les grenouilles et les insectes.",
        "Igel. Igel fressen kleine Tiere wie Frösche und Insekten.",
        "Erizo. Los erizos comen animales pequeños, como ranas e insectos.",
    ),
    (
        "Horse. Horses are adapted to run and have an excellent sense of balance.",
        "马。马善于奔跑，平衡感极好。",
        "Cheval. Les chevaux sont faits pour courir et ont un excellent sens de l'équilibre.",
        "Pferd. Pferde sind ans Laufen angepasst und haben einen sehr guten Gleichgewichtssinn.",
        "Caballo. Los caballos están adaptados para correr y tienen un excelente equilibrio.",
    ),
    (
        "Kangaroo. The kangaroo lives in Australia and carries its baby in a pouch on its belly.",
        "袋鼠。袋鼠生活在澳大利亚，把幼崽放在肚子上的育儿袋里。",
        "Kangourou. Le kangourou vit en Australie et porte son petit dans une poche sur le ventre.",
        "Känguru. Das Känguru lebt in Australien und trägt sein Junges in einem Beutel am Bauch.",
        "Canguro. El canguro vive en Australia y lleva a su cría en una bolsa en el vientre.",
    ),
    (
        "Koala. Koalas are marsupials that live in the eucalyptus forests of eastern Australia.",
        "考拉。考拉是生活在澳大利亚东部桉树林里的有袋动物。",
        "Koala. Les koalas sont des marsupiaux des forêts d'eucalyptus d'Australie.",
        "Koala. Koalas sind Beuteltiere, die in den Eukalyptuswäldern Ostaustraliens leben.",
        "Koala. Los koalas son marsupiales que viven en los bosques de eucalipto de Australia.",
    ),
    (
        "Owl. Owls are nocturnal birds with excellent vision and hearing at night.",
        "猫头鹰。猫头鹰是夜行性的鸟，夜里视力和听力都极好。",
        "Hibou. Les hiboux sont des oiseaux nocturnes qui voient et entendent très bien la nuit.",
        "Eule. Eulen sind nachtaktive Vögel, die nachts sehr gut sehen und hören.",
        "Búho. Los búhos son aves nocturnas con una vista y un oído excelentes de noche.",
    ),
    (
        "Panda. The panda is a bear with black and white fur that lives in the mountains of China.",
        "熊猫。熊猫是一种长着黑白毛的熊，生活在中国的山区。",
        "Panda. Le panda est un ours au pelage noir et blanc qui vit dans les montagnes de Chine.",
        "Panda. Der Panda ist ein Bär mit schwarz-weißem Fell, der in den Bergen Chinas lebt.",
        "Panda. El panda es un oso de pelaje blanco y negro que vive en las montañas de China.",
    ),
    (
        "Polar bear. The polar bear is one of the world's largest predatory mammals.",
        "北极熊。北极熊是世界上最大的食肉哺乳动物之一。",
        "Ours polaire. L'ours polaire est l'un des plus grands mammifères prédateurs du monde.",
        "Eisbär. Der Eisbär ist eines der größten Raubsäugetiere der Welt.",
        "Oso polar. El oso polar es uno de los mamíferos depredadores más grandes del mundo.",
    ),
    (
        "Sheep. Most sheep breeds bear a fleece of wool.",
        "绵羊。大多数绵羊品种身上长着羊毛。",
        "Mouton. La plupart des races de moutons portent une toison de laine.",
        "Schaf. Die meisten Schafrassen tragen ein Wollvlies.",
        "Oveja. La mayoría de las razas de ovejas tienen un vellón de lana.",
    ),
    (
        "Colosseum. The Colosseum is today the most recognizable of Rome's classical buildings.",
        "罗马斗兽场。斗兽场是今天罗马最有名的古典建筑。",
        "Colisée. Le Colisée est aujourd'hui le plus connu des monuments antiques de Rome.",
        "Kolosseum. Das Kolosseum ist heute das bekannteste antike Bauwerk Roms.",
        "Coliseo. El Coliseo es hoy el edificio clásico más reconocible de Roma.",
    ),
    (
        "Statue of Liberty. The best-known symbol of the United States sits on a small island "
        "in New York City.",
        "自由女神像。美国最著名的象征，矗立在纽约的一座小岛上。",
        "Statue de la Liberté. Le symbole le plus connu des États-Unis se dresse sur une petite "
        "île de New York.",
        "Freiheitsstatue. Das bekannteste Symbol der Vereinigten Staaten steht auf einer kleinen "
        "Insel in New York.",
        "Estatua de la Libertad. El símbolo más conocido de Estados Unidos está en una pequeña "
        "isla de Nueva York.",
    ),
    ("bucket, others", "水桶，其他", "seau, autres", "Eimer, Sonstiges", "cubo, otros"),
    ("cup, others", "杯子，其他", "tasse, autres", "Tasse, Sonstiges", "taza, otros"),
    ("knife, others", "刀，其他", "couteau, autres", "Messer, Sonstiges", "cuchillo, otros"),
    ("pencil, others", "铅笔，其他", "crayon, autres", "Bleistift, Sonstiges", "lápiz, otros"),
    ("pillow, others", "枕头，其他", "oreiller, autres", "Kissen, Sonstiges", "almohada, otros"),
    (
        "baseball, others",
        "棒球，其他",
        "balle de baseball, autres",
        "Baseball, Sonstiges",
        "pelota de béisbol, otros",
    ),
    (
        "wrench, tools",
        "扳手，工具",
        "clé, outils",
        "Schraubenschlüssel, Werkzeuge",
        "llave inglesa, herramientas",
    ),
    (
        "solar, renewable",
        "太阳能，可再生能源",
        "solaire, énergies renouvelables",
        "Solar, erneuerbare Energie",
        "solar, energías renovables",
    ),
    (
        "measuring tape, tools",
        "卷尺，工具",
        "mètre ruban, outils",
        "Maßband, Werkzeuge",
        "cinta métrica, herramientas",
    ),
    ("fish, fishes", "鱼，鱼类", "poisson, poissons", "Fisch, Fische", "pez, peces"),
]

HELD_OUT: list[Row] = [
    (
        "Arles Amphitheatre. This Roman amphitheatre dates back to the first century BC and was "
        "the setting for gladiator battles and chariot races.",
        "阿尔勒圆形竞技场。这座罗马竞技场建于公元前一世纪，曾是角斗士搏斗和战车比赛的场所。",
        "Amphithéâtre d'Arles. Cet amphithéâtre romain date du premier siècle avant notre ère et "
        "accueillait des combats de gladiateurs et des courses de chars.",
        "Amphitheater von Arles. Dieses römische Amphitheater stammt aus dem ersten Jahrhundert "
        "vor Christus und war Schauplatz von Gladiatorenkämpfen und Wagenrennen.",
        "Anfiteatro de Arlés. Este anfiteatro romano data del siglo I a. C. y fue escenario de "
        "combates de gladiadores y carreras de carros.",
    ),
    (
        "Berlin Cathedral. The Cathedral of Berlin is the largest church in the city.",
        "柏林大教堂。柏林大教堂是这座城市最大的教堂。",
        "Cathédrale de Berlin. La cathédrale de Berlin est la plus grande église de la ville.",
        "Berliner Dom. Der Berliner Dom ist die größte Kirche der Stadt.",
        "Catedral de Berlín. La catedral de Berlín es la iglesia más grande de la ciudad.",
    ),
    (
        "Bison. Bisons live on the plains of North America and were hunted by the Native "
        "Americans for food.",
        "野牛。野牛生活在北美平原上，美洲原住民曾猎捕它们作为食物。",
        "Bison. Les bisons vivent dans les plaines d'Amérique du Nord et étaient chassés par les "
        "Amérindiens pour se nourrir.",
        "Bison. Bisons leben in den Ebenen Nordamerikas und wurden von den Ureinwohnern als "
        "Nahrung gejagt.",
        "Bisonte. Los bisontes viven en las llanuras de América del Norte y los nativos "
        "americanos los cazaban para comer.",
    ),
    (
        "Castillo de San Marcos. A stone fort set on more than 20 acres in St. Augustine.",
        "圣马科斯城堡。一座位于圣奥古斯丁、占地二十多英亩的石头堡垒。",
        "Castillo de San Marcos. Un fort de pierre sur plus de huit hectares à Saint Augustine.",
        "Castillo de San Marcos. Eine Steinfestung auf über acht Hektar in St. Augustine.",
        "Castillo de San Marcos. Un fuerte de piedra de más de ocho hectáreas en San Agustín.",
    ),
    (
        "Chameleon. The chameleon lives in Africa and Madagascar and can change its skin color "
        "in a couple of seconds.",
        "变色龙。变色龙生活在非洲和马达加斯加，几秒钟就能改变皮肤的颜色。",
        "Caméléon. Le caméléon vit en Afrique et à Madagascar et peut changer la couleur de sa "
        "peau en quelques secondes.",
        "Chamäleon. Das Chamäleon lebt in Afrika und auf Madagaskar und kann seine Hautfarbe "
        "in wenigen Sekunden ändern.",
        "Camaleón. El camaleón vive en África y Madagascar y puede cambiar el color de su piel "
        "en unos segundos.",
    ),
    (
        "Charminar. The Charminar in Hyderabad was constructed in 1591.",
        "查尔米纳尔。海得拉巴的查尔米纳尔建于1591年。",
        "Charminar. Le Charminar d'Hyderabad a été construit en 1591.",
        "Charminar. Der Charminar in Hyderabad wurde 1591 erbaut.",
        "Charminar. El Charminar de Hyderabad fue construido en 1591.",
    ),
    (
        "Eiffel Tower. The world-famous metallic tower was built for the Paris International "
        "Exhibition in 1889.",
        "埃菲尔铁塔。这座举世闻名的金属塔是为1889年巴黎世界博览会建造的。",
        "Tour Eiffel. La célèbre tour métallique a été construite pour l'Exposition universelle "
        "de Paris en 1889.",
        "Eiffelturm. Der weltberühmte Metallturm wurde für die Pariser Weltausstellung 1889 "
        "gebaut.",
        "Torre Eiffel. La famosa torre metálica se construyó para la Exposición Universal de "
        "París de 1889.",
    ),
    (
        "Fort Sumter. A defensive fortification in Charleston Harbor where the first shots of "
        "the Civil War were fired.",
        "萨姆特堡。查尔斯顿港的一座防御要塞，南北战争的第一枪在这里打响。",
        "Fort Sumter. Une fortification du port de Charleston où furent tirés les premiers "
        "coups de feu de la guerre de Sécession.",
        "Fort Sumter. Eine Festung im Hafen von Charleston, wo die ersten Schüsse des "
        "Bürgerkriegs fielen.",
        "Fuerte Sumter. Una fortificación en el puerto de Charleston donde se dispararon los "
        "primeros tiros de la Guerra Civil.",
    ),
    (
        "Gateway of India. The Gateway of India is a unique landmark in the city of Mumbai.",
        "印度门。印度门是孟买市一座独特的地标。",
        "Porte de l'Inde. La Porte de l'Inde est un monument unique de la ville de Bombay.",
        "Gateway of India. Das Gateway of India ist ein einzigartiges Wahrzeichen der Stadt "
        "Mumbai.",
        "Puerta de la India. La Puerta de la India es un monumento único de la ciudad de Bombay.",
    ),
    (
        "Golden Temple. The Golden Temple in Amritsar is one of the most revered spiritual sites "
        "of Sikhism.",
        "金庙。阿姆利则的金庙是锡克教最受尊崇的圣地之一。",
        "Temple d'or. Le Temple d'or d'Amritsar est l'un des lieux les plus sacrés du sikhisme.",
        "Goldener Tempel. Der Goldene Tempel in Amritsar ist eines der heiligsten Orte des "
        "Sikhismus.",
        "Templo Dorado. El Templo Dorado de Amritsar es uno de los lugares más venerados del "
        "sijismo.",
    ),
    (
        "Great Stupa. The Great Stupa at Sanchi is the oldest stone structure in India.",
        "桑吉大佛塔。桑吉大佛塔是印度最古老的石头建筑。",
        "Grand stupa. Le grand stupa de Sanchi est la plus ancienne construction en pierre de "
        "l'Inde.",
        "Große Stupa. Die Große Stupa von Sanchi ist das älteste Steinbauwerk Indiens.",
        "Gran Estupa. La Gran Estupa de Sanchi es la construcción de piedra más antigua de la "
        "India.",
    ),
    (
        "Hawa Mahal. Hawa Mahal is a palace in Jaipur, India, with a high screen wall.",
        "风之宫殿。风之宫殿是印度斋浦尔的一座宫殿，有一面高高的屏风墙。",
        "Hawa Mahal. Le Hawa Mahal est un palais de Jaipur, en Inde, avec un haut mur ajouré.",
        "Hawa Mahal. Der Hawa Mahal ist ein Palast in Jaipur, Indien, mit einer hohen "
        "Fassadenwand.",
        "Hawa Mahal. El Hawa Mahal es un palacio de Jaipur, India, con un alto muro de celosías.",
    ),
    (
        "Jaguar. The jaguar's jaw is well developed.",
        "美洲豹。美洲豹的下颚非常发达。",
        "Jaguar. La mâchoire du jaguar est très développée.",
        "Jaguar. Der Kiefer des Jaguars ist sehr kräftig.",
        "Jaguar. La mandíbula del jaguar está muy desarrollada.",
    ),
    (
        "Mexico. Mariachi is a famous type of Mexican music.",
        "墨西哥。墨西哥街头乐队是一种著名的墨西哥音乐。",
        "Mexique. Le mariachi est un genre célèbre de musique mexicaine.",
        "Mexiko. Mariachi ist eine berühmte Art mexikanischer Musik.",
        "México. El mariachi es un tipo famoso de música mexicana.",
    ),
    (
        "Narwhal. Narwhals are whales that live in the Arctic Ocean and have long tusks.",
        "独角鲸。独角鲸是生活在北冰洋的鲸，长着长长的牙。",
        "Narval. Les narvals sont des baleines de l'océan Arctique qui ont de longues défenses.",
        "Narwal. Narwale sind Wale, die im Arktischen Ozean leben und lange Stoßzähne haben.",
        "Narval. Los narvales son ballenas que viven en el océano Ártico y tienen colmillos "
        "largos.",
    ),
    (
        "Pig. Pigs wallow in the mud, mainly to control their body temperature.",
        "猪。猪在泥里打滚，主要是为了调节体温。",
        "Cochon. Les cochons se roulent dans la boue, surtout pour réguler leur température.",
        "Schwein. Schweine suhlen sich im Schlamm, vor allem um ihre Körpertemperatur zu regeln.",
        "Cerdo. Los cerdos se revuelcan en el barro, sobre todo para controlar su temperatura.",
    ),
    (
        "Pyramid of Meidum. South of Saqqara in Egypt stands the mysterious tower-like pyramid "
        "of Meidum.",
        "美杜姆金字塔。在埃及塞加拉以南，矗立着神秘的塔状美杜姆金字塔。",
        "Pyramide de Meïdoum. Au sud de Saqqarah, en Égypte, se dresse la mystérieuse pyramide "
        "de Meïdoum, semblable à une tour.",
        "Pyramide von Meidum. Südlich von Sakkara in Ägypten steht die rätselhafte, turmartige "
        "Pyramide von Meidum.",
        "Pirámide de Meidum. Al sur de Saqqara, en Egipto, se alza la misteriosa pirámide de "
        "Meidum, parecida a una torre.",
    ),
    (
        "Qutub Minar. Qutub Minar, at 74 meters, is the tallest brick minaret in the world.",
        "顾特卜塔。顾特卜塔高74米，是世界上最高的砖砌宣礼塔。",
        "Qutb Minar. Haut de 74 mètres, le Qutb Minar est le plus haut minaret en briques du "
        "monde.",
        "Qutub Minar. Mit 74 Metern ist der Qutub Minar das höchste Ziegelminarett der Welt.",
        "Qutub Minar. Con 74 metros, el Qutub Minar es el minarete de ladrillo más alto del mundo.",
    ),
    (
        "Rang Ghar. The Rang Ghar is a two-storied building which once served as the royal "
        "sports pavilion.",
        "朗加尔。朗加尔是一座两层建筑，曾是皇家观赛亭。",
        "Rang Ghar. Le Rang Ghar est un bâtiment à deux étages qui servait de pavillon royal "
        "des sports.",
        "Rang Ghar. Der Rang Ghar ist ein zweistöckiges Gebäude, das einst als königlicher "
        "Sportpavillon diente.",
        "Rang Ghar. El Rang Ghar es un edificio de dos plantas que fue el pabellón real de "
        "deportes.",
    ),
    (
        "Ring-tailed lemur. The ring-tailed lemur is a primate that lives in the dry regions of "
        "Madagascar.",
        "环尾狐猴。环尾狐猴是一种生活在马达加斯加干旱地区的灵长类动物。",
        "Maki catta. Le maki catta est un primate qui vit dans les régions sèches de Madagascar.",
        "Katta. Der Katta ist ein Primat, der in den trockenen Gebieten Madagaskars lebt.",
        "Lémur de cola anillada. El lémur de cola anillada es un primate que vive en las "
        "regiones secas de Madagascar.",
    ),
    (
        "Schwerin Palace. This romantic fairytale fortress, with its many towers and domes, is "
        "reflected in the waters of the lake.",
        "什未林宫。这座浪漫的童话城堡有许多塔楼和圆顶，倒映在湖水中。",
        "Château de Schwerin. Cette forteresse de conte de fées, avec ses nombreuses tours et "
        "coupoles, se reflète dans les eaux du lac.",
        "Schweriner Schloss. Diese romantische Märchenburg mit ihren vielen Türmen und Kuppeln "
        "spiegelt sich im Wasser des Sees.",
        "Palacio de Schwerin. Esta romántica fortaleza de cuento, con sus muchas torres y "
        "cúpulas, se refleja en las aguas del lago.",
    ),
    (
        "Trier Imperial Baths. The Trier Imperial Baths are a large Roman bath complex in Germany.",
        "特里尔皇家浴场。特里尔皇家浴场是德国一处大型的罗马浴场遗址。",
        "Thermes impériaux de Trèves. Les thermes impériaux de Trèves sont un grand ensemble de "
        "bains romains en Allemagne.",
        "Kaiserthermen Trier. Die Trierer Kaiserthermen sind eine große römische Badeanlage in "
        "Deutschland.",
        "Termas imperiales de Tréveris. Las termas imperiales de Tréveris son un gran complejo "
        "de baños romanos en Alemania.",
    ),
    (
        "arc de triomphe, monuments",
        "凯旋门，名胜古迹",
        "arc de triomphe, monuments",
        "Triumphbogen, Denkmäler",
        "arco del triunfo, monumentos",
    ),
    (
        "buffetset, others",
        "自助餐具，其他",
        "service à buffet, autres",
        "Buffetset, Sonstiges",
        "juego de bufé, otros",
    ),
    ("bulb, others", "灯泡，其他", "ampoule, autres", "Glühbirne, Sonstiges", "bombilla, otros"),
    (
        "burj, monuments",
        "哈利法塔，名胜古迹",
        "burj, monuments",
        "Burj, Denkmäler",
        "burj, monumentos",
    ),
    (
        "cathedral, monuments",
        "大教堂，名胜古迹",
        "cathédrale, monuments",
        "Kathedrale, Denkmäler",
        "catedral, monumentos",
    ),
    ("chair, others", "椅子，其他", "chaise, autres", "Stuhl, Sonstiges", "silla, otros"),
    (
        "cutting tool, tools",
        "切割工具，工具",
        "outil de coupe, outils",
        "Schneidwerkzeug, Werkzeuge",
        "herramienta de corte, herramientas",
    ),
    (
        "dam, renewable",
        "水坝，可再生能源",
        "barrage, énergies renouvelables",
        "Staudamm, erneuerbare Energie",
        "presa, energías renovables",
    ),
    ("fish, fishes", "鱼，鱼类", "poisson, poissons", "Fisch, Fische", "pez, peces"),
    (
        "great pyramid, monuments",
        "大金字塔，名胜古迹",
        "grande pyramide, monuments",
        "große Pyramide, Denkmäler",
        "gran pirámide, monumentos",
    ),
    (
        "great wall, monuments",
        "长城，名胜古迹",
        "grande muraille, monuments",
        "Chinesische Mauer, Denkmäler",
        "gran muralla, monumentos",
    ),
    (
        "hammer, tools",
        "锤子，工具",
        "marteau, outils",
        "Hammer, Werkzeuge",
        "martillo, herramientas",
    ),
    (
        "juche tower, monuments",
        "主体思想塔，名胜古迹",
        "tour du Juche, monuments",
        "Juche-Turm, Denkmäler",
        "torre Juche, monumentos",
    ),
    (
        "leaning tower of pisa, monuments",
        "比萨斜塔，名胜古迹",
        "tour penchée de Pise, monuments",
        "Schiefer Turm von Pisa, Denkmäler",
        "torre inclinada de Pisa, monumentos",
    ),
    (
        "monument, monuments",
        "纪念碑，名胜古迹",
        "monument, monuments",
        "Denkmal, Denkmäler",
        "monumento, monumentos",
    ),
    (
        "multimeter, tools",
        "万用表，工具",
        "multimètre, outils",
        "Multimeter, Werkzeuge",
        "multímetro, herramientas",
    ),
    ("pan, others", "平底锅，其他", "poêle, autres", "Pfanne, Sonstiges", "sartén, otros"),
    (
        "parthenon, monuments",
        "帕特农神庙，名胜古迹",
        "parthénon, monuments",
        "Parthenon, Denkmäler",
        "partenón, monumentos",
    ),
    ("plate, others", "盘子，其他", "assiette, autres", "Teller, Sonstiges", "plato, otros"),
    ("plier, tools", "钳子，工具", "pince, outils", "Zange, Werkzeuge", "alicates, herramientas"),
    (
        "scissors, tools",
        "剪刀，工具",
        "ciseaux, outils",
        "Schere, Werkzeuge",
        "tijeras, herramientas",
    ),
    (
        "screw driver, tools",
        "螺丝刀，工具",
        "tournevis, outils",
        "Schraubenzieher, Werkzeuge",
        "destornillador, herramientas",
    ),
    (
        "side cutter, tools",
        "斜口钳，工具",
        "pince coupante, outils",
        "Seitenschneider, Werkzeuge",
        "alicate de corte, herramientas",
    ),
    (
        "spray, tools",
        "喷雾器，工具",
        "pulvérisateur, outils",
        "Sprühflasche, Werkzeuge",
        "pulverizador, herramientas",
    ),
    (
        "taj mahal, monuments",
        "泰姬陵，名胜古迹",
        "taj mahal, monuments",
        "Taj Mahal, Denkmäler",
        "taj mahal, monumentos",
    ),
    (
        "tweezer, tools",
        "镊子，工具",
        "pince à épiler, outils",
        "Pinzette, Werkzeuge",
        "pinzas, herramientas",
    ),
    (
        "volleyball, others",
        "排球，其他",
        "ballon de volley, autres",
        "Volleyball, Sonstiges",
        "balón de voleibol, otros",
    ),
    (
        "weighing machine, others",
        "秤，其他",
        "balance, autres",
        "Waage, Sonstiges",
        "báscula, otros",
    ),
    (
        "windmill, renewable",
        "风车，可再生能源",
        "éolienne, énergies renouvelables",
        "Windrad, erneuerbare Energie",
        "molino de viento, energías renovables",
    ),
]
LANGUAGES = ("en", "zh", "fr", "de", "es")
